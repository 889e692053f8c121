using Cachee.Sessions.Testing;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>
/// A deployment the bus cannot cover (a Redis Cluster, for now): L1 stays off for good, every read asks the L2 store, and
/// writes wait for no acknowledgement, so every read sees the last write on every instance.
/// </summary>
public sealed class CoherenceUnavailableTests
{
    [Fact]
    public async Task L1StaysOff_ReadsSeeEveryWrite_AndWritesWaitForNobody()
    {
        await using var fleet = new CacheeTestFleet(o => o.InvalidationAckTimeout = TimeSpan.FromSeconds(5));
        var a = await fleet.AddWithoutCoherenceAsync();
        var b = await fleet.AddWithoutCoherenceAsync();
        var sliding = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) };

        for (var round = 0; round < 20; round++)
        {
            await a.SetAsync("k", [(byte)round], sliding);
            Assert.Equal(new byte[] { (byte)round }, await b.GetAsync("k"));
            Assert.Equal(new byte[] { (byte)round }, b.Get("k"));
            await b.RemoveAsync("k");
            Assert.Null(await a.GetAsync("k"));
        }

        foreach (var cache in new[] { a, b })
        {
            var stats = cache.GetStatistics();
            Assert.Equal((0L, 0L, 0L), (stats.L1Hits ?? -1, stats.L1Entries, stats.AckTimeouts));
            Assert.False(cache.Coordinator.IsSubscribed);
        }
    }
}
