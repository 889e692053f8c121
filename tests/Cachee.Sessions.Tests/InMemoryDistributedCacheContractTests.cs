using Cachee.Sessions.Testing;



namespace Cachee.Sessions.Tests;

/// <summary>The IDistributedCache contract over the in-memory model; every call the contract forbids is also checked at the model.</summary>
public sealed class InMemoryDistributedCacheContractTests : DistributedCacheContract
{
    private readonly CacheeTestFleet _fleet = new();

    protected override DateTimeOffset Now => _fleet.Time.GetUtcNow();

    protected override Task<TieredDistributedCache> StartCacheAsync() => _fleet.AddInstanceAsync();

    public override async Task DisposeAsync() => await _fleet.DisposeAsync();

    [Fact]
    public async Task RejectedCalls_SendNoCommand()
    {
        var cache = _fleet.Instances[0];
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cache.GetAsync("k", cts.Token));
        await Assert.ThrowsAsync<ArgumentNullException>(() => cache.SetAsync("k", null!, new()));
        Assert.Equal(0, _fleet.Redis.Commands);
    }

    [Fact]
    public async Task L1Hits_SendNoCommand()
    {
        var cache = _fleet.Instances[0];
        await cache.SetAsync("k", [7], new());
        var commands = _fleet.Redis.Commands;
        _ = cache.Get("k");
        _ = await cache.GetAsync("k");
        Assert.Equal(commands, _fleet.Redis.Commands);
    }
}
