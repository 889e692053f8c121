using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Reads served from L1 keep short sliding windows alive in a real Redis: the renewal never switches itself off, whatever
/// the window. (Reads are paced in real time here because Redis expires keys on its own clock; nothing waits on a sleep.)
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class SlidingRenewalOnRedisTests(RedisServer redis)
{
    [Fact]
    public async Task EntriesWithOneThreeAndFourSecondWindows_ReadOnlyFromL1ForThreeWindows_StayInRedis()
    {
        await using var instances = new Instances(redis);
        var cache = await instances.StartAsync();
        int[] windowsMs = [1_000, 3_000, 4_000];
        foreach (var windowMs in windowsMs)
        {
            await cache.SetAsync($"w{windowMs}", [1, 2, 3], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMilliseconds(windowMs) });
        }

        var misses = cache.GetStatistics().L1Misses;
        await Task.WhenAll(windowsMs.Select(windowMs => ReadForThreeWindowsAsync(cache, instances.Prefix, windowMs)));
        Assert.Equal(misses, cache.GetStatistics().L1Misses);

        // Left alone, each expires within its window: renewals extended it, they did not make it permanent.
        foreach (var windowMs in windowsMs)
        {
            await Eventually.TrueAsync(
                () => !redis.Admin.GetDatabase().KeyExists(instances.Prefix + $"w{windowMs}"),
                $"the {windowMs} ms entry expires once nobody reads it", TimeSpan.FromMilliseconds(windowMs + 2_000));
        }
    }

    [Fact]
    public async Task ASessionWithATwoSecondIdleTimeout_IsKeptAliveByRequestsThatNeverTouchIt()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 2, s => s.IdleTimeout = TimeSpan.FromSeconds(2));
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/user/alice"));
        var misses = fleet.CacheOf(0).GetStatistics().L1Misses;

        // Three idle timeouts of requests, one a second, that never read the session: each ends with RefreshAsync.
        using var pace = new PeriodicTimer(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 6; i++)
        {
            _ = await pace.WaitForNextTickAsync();
            Assert.Equal("pong", await fleet.GetAsync(0, "/ping"));
        }

        Assert.Equal(misses, fleet.CacheOf(0).GetStatistics().L1Misses); // every refresh was served from L1
        Assert.Equal("alice", await fleet.GetAsync(1, "/get/user"));
    }

    // Reads the entry from L1 every quarter window for three windows, alternating Get, GetAsync, Refresh and RefreshAsync;
    // after every read Redis must still hold it.
    private async Task ReadForThreeWindowsAsync(TieredDistributedCache cache, string prefix, int windowMs)
    {
        var key = $"w{windowMs}";
        var database = redis.Admin.GetDatabase();
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(windowMs / 4));
        for (var turn = 0; turn < 12; turn++)
        {
            _ = await pace.WaitForNextTickAsync();
            switch (turn % 4)
            {
                case 0:
                    Assert.NotNull(cache.Get(key));
                    break;
                case 1:
                    Assert.NotNull(await cache.GetAsync(key));
                    break;
                case 2:
                    cache.Refresh(key);
                    break;
                default:
                    await cache.RefreshAsync(key);
                    break;
            }

            var ttl = await database.KeyTimeToLiveAsync(prefix + key);
            Assert.True(ttl is { } left && left > TimeSpan.Zero, $"{key}: gone from Redis after {turn + 1} reads a quarter window apart");
        }
    }
}
