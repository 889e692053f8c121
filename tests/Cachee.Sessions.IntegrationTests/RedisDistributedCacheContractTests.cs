namespace Cachee.Sessions.IntegrationTests;

/// <summary>The IDistributedCache contract over a real <c>redis-server</c> (the same tests run over the in-memory model).</summary>
public sealed class RedisDistributedCacheContractTests(RedisServer redis) : DistributedCacheContract, IClassFixture<RedisServer>
{
    private readonly Instances _instances = new(redis);

    protected override DateTimeOffset Now => DateTimeOffset.UtcNow;

    protected override Task<TieredDistributedCache> StartCacheAsync() => _instances.StartAsync();

    public override async Task DisposeAsync() => await _instances.DisposeAsync();
}
