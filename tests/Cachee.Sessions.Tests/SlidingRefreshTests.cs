using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

/// <summary>
/// Reads served from L1 keep the Redis entry alive through coalesced background renewals: for an access at T on any
/// instance, Redis expires the entry no earlier than T + window − tolerance.
/// </summary>
public sealed class SlidingRefreshTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(20);
    private static readonly TimeSpan DefaultTolerance = TimeSpan.FromSeconds(24); // 2% of 20 minutes

    [Fact]
    public async Task HitsWithinTolerance_CostNoRedisCommand()
    {
        await using var fleet = new Fleet();
        var cache = await fleet.AddAsync();
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        var commands = fleet.Server.Commands;

        for (var i = 0; i < 100; i++)
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(200)); // 20 s of traffic in all, below the 24 s tolerance
            Assert.NotNull(cache.Get("s"));
            await cache.RefreshAsync("s");
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        Assert.Equal(commands, fleet.Server.Commands);
    }

    [Fact]
    public async Task ManyHits_AreCoalescedIntoOneRenewalPerTolerance()
    {
        await using var fleet = new Fleet();
        var cache = await fleet.AddAsync();
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        var commands = fleet.Server.Commands;

        // Ten minutes of a hit every 100 ms: 6,000 hits, renewals only when a tolerance has passed since the last one.
        for (var i = 0; i < 6000; i++)
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(100));
            Assert.NotNull(cache.Get("s"));
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        var renewals = fleet.Server.Commands - commands;
        Assert.InRange(renewals, 20, 26); // 600 s / 24 s = 25
        Assert.Equal(renewals, cache.GetStatistics().L2Refreshes);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(5_000)]
    public async Task RedisExpiry_IsNeverEarlierThanAccessPlusWindowMinusTolerance(int? toleranceMs)
    {
        TimeSpan? configured = toleranceMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        await using var fleet = new Fleet(o => o.SlidingRefreshTolerance = configured);
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        var tolerance = configured ?? DefaultTolerance;
        await a.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        var random = new Random(42);

        for (var i = 0; i < 500; i++)
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(random.Next(1, 60_000)));
            var reader = random.Next(2) == 0 ? a : b;
            var accessedAt = fleet.Time.GetUtcNow();
            Assert.NotNull(await reader.GetAsync("s"));
            await a.Coordinator.FlushRefreshesAsync(CancellationToken.None);
            await b.Coordinator.FlushRefreshesAsync(CancellationToken.None);

            var redisExpiry = fleet.Time.GetUtcNow().AddMilliseconds(fleet.Server.Pttl("s"));
            Assert.True(redisExpiry >= accessedAt + Window - tolerance, $"access {i}: Redis expires at {redisExpiry:O}, access at {accessedAt:O}");
        }

        Assert.True(a.GetStatistics().L1Hits + b.GetStatistics().L1Hits > 400);
    }

    [Fact]
    public async Task RenewalOfAnEntryRewrittenElsewhere_DropsTheStaleCopy()
    {
        await using var fleet = new Fleet();
        var a = await fleet.AddAsync();
        var b = await fleet.AddAsync();
        await a.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        Assert.NotNull(await b.GetAsync("s"));

        // b stops hearing invalidations only for the write below (a cut and restore would drop its L1, so forge it differently):
        // the renewal carries the version b read, finds a newer one in Redis, and b drops its copy.
        fleet.Time.Advance(DefaultTolerance);
        Assert.Equal([1], await b.GetAsync("s"));
        fleet.Server.Set("s", [2], new L2.EntryExpiration(L2.EntryExpiration.None, Window.Ticks), (long)Window.TotalMilliseconds, "x|", "|0|s");
        await b.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        Assert.Equal([2], await b.GetAsync("s"));
    }
}
