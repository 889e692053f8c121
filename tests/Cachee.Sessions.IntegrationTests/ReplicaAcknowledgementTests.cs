using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// <see cref="CacheeOptions.MinReplicasToAcknowledge"/> on a real master with one replica: a write returns once the replica
/// has it, fails when the replica cannot confirm in time, and its WAIT never holds up the cache's other calls.
/// </summary>
public sealed class ReplicaAcknowledgementTests : IAsyncLifetime
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private RedisProcess _master = null!;
    private RedisProcess _replica = null!;
    private ConnectionMultiplexer _replicaConnection = null!;

    public async Task InitializeAsync()
    {
        _master = RedisProcess.Start();
        _replica = RedisProcess.StartReplicaOf(_master);
        _replicaConnection = await ConnectionMultiplexer.ConnectAsync(_replica.Endpoint);
    }

    public async Task DisposeAsync()
    {
        await _replicaConnection.DisposeAsync();
        _replica.Dispose();
        _master.Dispose();
    }

    [Fact]
    public async Task AWrite_ReturnsOnceTheReplicaHasIt_AndTheWriterKeepsNoCopy()
    {
        await using var instances = new Instances(_master.Endpoint);
        var cache = await instances.StartAsync(o => o.MinReplicasToAcknowledge = 1);
        for (var i = 0; i < 50; i++)
        {
            await cache.SetAsync($"k{i}", [(byte)i], Sliding);

            // No polling: the replica confirmed it before SetAsync returned.
            Assert.Equal(new byte[] { (byte)i }, (byte[]?)await _replicaConnection.GetDatabase().HashGetAsync(instances.Prefix + $"k{i}", "data"));
        }

        Assert.False(cache.L1.TryPeek("k0", out _));
        Assert.Equal([0], await cache.GetAsync("k0"));
        await cache.RemoveAsync("k0");
        Assert.False(await _replicaConnection.GetDatabase().KeyExistsAsync(instances.Prefix + "k0"));
    }

    [Fact]
    public async Task AReplicaThatCannotConfirm_FailsTheWrite_WithoutHoldingUpOtherCalls()
    {
        await using var instances = new Instances(_master.Endpoint);
        var cache = await instances.StartAsync(o =>
        {
            o.MinReplicasToAcknowledge = 1;
            o.L2OperationTimeout = TimeSpan.FromSeconds(2); // the WAIT lasts up to half the write window: 875 ms
        });
        await cache.SetAsync("other", [1], Sliding);
        _replica.Pause();
        try
        {
            var write = cache.SetAsync("k", [2], Sliding);

            // While the write waits for the replica, other calls of the same cache go through.
            for (var i = 0; i < 20; i++)
            {
                Assert.Null(await cache.GetAsync($"absent{i}"));
            }

            Assert.False(write.IsCompleted, "the write still waits for its replica");
            await Assert.ThrowsAsync<CacheUnavailableException>(() => write);
            Assert.False(cache.L1.TryPeek("k", out _));
        }
        finally
        {
            _replica.Resume();
        }
    }
}
