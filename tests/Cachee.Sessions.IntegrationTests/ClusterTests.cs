using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// On a real three-master Redis Cluster: until the cluster protocol exists, Cachee keeps L1 off there (with a warning)
/// rather than serve copies it cannot keep coherent, so every read sees the last write.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterTests(RedisCluster cluster)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task WriteOnOneInstanceRemoveOnAnother_AcrossShards_NoReadIsStale_AndL1StaysOffWithAWarning()
    {
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using var instances = new Instances(cluster.Endpoints, loggerFactory);
        var a = instances.Create();
        var b = instances.Create();
        foreach (var cache in new[] { a, b })
        {
            await cache.Coordinator.StartAsync(CancellationToken.None);
            await Eventually.TrueAsync(() => cache.Coordinator.IsCoherenceUnavailable, "the cache finds it is on a cluster");
        }

        // Keys spread over the three shards; each round reads what the other instance just did.
        for (var round = 0; round < 300; round++)
        {
            var key = $"session-{round % 30}";
            var value = Encoding.UTF8.GetBytes($"v{round}");
            await a.SetAsync(key, value, Sliding);
            Assert.Equal(value, await b.GetAsync(key));
            await b.RemoveAsync(key);
            Assert.Null(await a.GetAsync(key));
        }

        Assert.Equal(0, a.GetStatistics().L1Entries + b.GetStatistics().L1Entries);
        Assert.Equal(0, a.GetStatistics().AckTimeouts + b.GetStatistics().AckTimeouts); // nobody to wait for
        Assert.Contains(logs.Lines, line => line.Contains("[CoherenceUnavailable]", StringComparison.Ordinal) && line.Contains("Redis Cluster", StringComparison.Ordinal));
    }
}
