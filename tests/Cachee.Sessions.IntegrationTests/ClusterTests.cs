using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// On a real three-master Redis Cluster: holders hear changes on their inbox in each key's shard (sharded pub/sub), writers
/// wait for exactly them, and tracking on every master revokes changes by other clients.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterTests(RedisCluster cluster)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task WriteOnOneInstanceRemoveOnAnother_AcrossShards_NoReadIsStale_AndCopiesAreServedFromL1()
    {
        await using var instances = new Instances(cluster.Endpoints);
        var a = await instances.StartAsync(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var b = await instances.StartAsync(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));

        // Keys spread over the three shards; each round reads what the other instance just did, twice (the second from L1).
        for (var round = 0; round < 300; round++)
        {
            var key = $"session-{round % 30}";
            var value = Encoding.UTF8.GetBytes($"v{round}");
            await a.SetAsync(key, value, Sliding);
            Assert.Equal(value, await b.GetAsync(key));
            Assert.Equal(value, await b.GetAsync(key));
            await a.SetAsync(key, value.Reverse().ToArray(), Sliding);
            Assert.Equal(value.Reverse().ToArray(), await b.GetAsync(key));
            await b.RemoveAsync(key);
            Assert.Null(await a.GetAsync(key));
        }

        Assert.True(b.GetStatistics().L1Hits >= 300);
        Assert.Equal(0, a.GetStatistics().AckTimeouts + b.GetStatistics().AckTimeouts);
        Assert.True(b.GetStatistics().InvalidationsReceived >= 300);
    }

    [Fact]
    public async Task AChangeByAnotherClient_OnAnyShard_IsRevoked()
    {
        await using var instances = new Instances(cluster.Endpoints);
        var a = await instances.StartAsync();
        using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Endpoints);
        for (var i = 0; i < 12; i++)
        {
            await a.SetAsync($"k{i}", [1], Sliding);
            Assert.Equal([1], await a.GetAsync($"k{i}"));
            Assert.True(await admin.GetDatabase().KeyDeleteAsync(instances.Prefix + $"k{i}"));
            await Eventually.TrueAsync(() => !a.L1.TryPeek($"k{i}", out _), "the DEL is revoked", TimeSpan.FromSeconds(1));
            Assert.Null(await a.GetAsync($"k{i}"));
        }
    }
}
