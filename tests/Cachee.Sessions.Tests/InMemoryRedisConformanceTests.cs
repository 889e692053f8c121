using Cachee.Sessions.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>The store conformance suite against the testing package's in-memory model (the same tests run against Redis).</summary>
public sealed class InMemoryRedisConformanceTests : L2StoreConformance
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly InMemoryRedis _redis;

    public InMemoryRedisConformanceTests() => _redis = new InMemoryRedis(_time);

    private protected override long NowTicks => _time.GetUtcNow().UtcTicks;

    private protected override async Task<Node> ConnectAsync(string origin)
    {
        var node = new Node(origin, new InMemoryL2Store(_redis, origin));
        await new InMemoryInvalidationBus(_redis.Hub, origin).StartAsync(node, CancellationToken.None);
        return node;
    }

    private protected override Task SetFromOtherClientAsync(string key, byte[] value)
    {
        _redis.SetFromOtherClient(key, value);
        return Task.CompletedTask;
    }

    private protected override Task<int> HolderCountAsync(string key) => Task.FromResult(_redis.HolderCount(key));

    private protected override async Task AfterAsync(TimeSpan span, Func<Task<bool>> condition, string what)
    {
        _time.Advance(span);
        Assert.True(await condition(), what);
    }
}
