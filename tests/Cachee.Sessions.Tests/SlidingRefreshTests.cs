using Cachee.Sessions.L2;
using Cachee.Sessions.Testing;
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
        await using var fleet = new CacheeTestFleet();
        var cache = await fleet.AddInstanceAsync();
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        var commands = fleet.Redis.Commands;

        for (var i = 0; i < 100; i++)
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(200)); // 20 s of traffic in all, below the 24 s tolerance
            Assert.NotNull(cache.Get("s"));
            await cache.RefreshAsync("s");
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        Assert.Equal(commands, fleet.Redis.Commands);
    }

    [Fact]
    public async Task ManyHits_AreCoalescedIntoOneRenewalPerTolerance()
    {
        await using var fleet = new CacheeTestFleet();
        var cache = await fleet.AddInstanceAsync();
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        var commands = fleet.Redis.Commands;

        // Ten minutes of a hit every 100 ms: 6,000 hits, renewals only when a tolerance has passed since the last one.
        for (var i = 0; i < 6000; i++)
        {
            fleet.Time.Advance(TimeSpan.FromMilliseconds(100));
            Assert.NotNull(cache.Get("s"));
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        }

        var renewals = fleet.Redis.Commands - commands;
        Assert.InRange(renewals, 20, 26); // 600 s / 24 s = 25
        Assert.Equal(renewals, cache.GetStatistics().L2Refreshes);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(5_000)]
    public async Task RedisExpiry_IsNeverEarlierThanAccessPlusWindowMinusTolerance(int? toleranceMs)
    {
        TimeSpan? configured = toleranceMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        await using var fleet = new CacheeTestFleet(o => o.SlidingRefreshTolerance = configured);
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
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

            var redisExpiry = fleet.Time.GetUtcNow().AddMilliseconds(fleet.Redis.Pttl("s"));
            Assert.True(redisExpiry >= accessedAt + Window - tolerance, $"access {i}: Redis expires at {redisExpiry:O}, access at {accessedAt:O}");
        }

        Assert.True(a.GetStatistics().L1Hits + b.GetStatistics().L1Hits > 400);
    }

    [Fact]
    public async Task RenewalOfAnEntryRewrittenElsewhere_DropsTheStaleCopy()
    {
        await using var fleet = new CacheeTestFleet();
        var a = await fleet.AddInstanceAsync();
        var b = await fleet.AddInstanceAsync();
        await a.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = Window });
        Assert.NotNull(await b.GetAsync("s"));

        // b stops hearing invalidations only for the write below (a cut and restore would drop its L1, so forge it differently):
        // the renewal carries the version b read, finds a newer one in Redis, and b drops its copy.
        fleet.Time.Advance(DefaultTolerance);
        Assert.Equal([1], await b.GetAsync("s"));
        fleet.Redis.Set("s", [2], new L2.EntryExpiration(L2.EntryExpiration.None, Window.Ticks), (long)Window.TotalMilliseconds, "x", "x|", "|0|s");
        await b.Coordinator.FlushRefreshesAsync(CancellationToken.None);
        Assert.Equal([2], await b.GetAsync("s"));
    }

    private static readonly int[] GridWindowsMs = [250, 1_000, 3_000, 4_000, 6_000, 60_000, 1_200_000, 3_600_000];
    private static readonly int?[] GridTolerancesMs = [null, 1, 10, 50, 100, 1_000, 30_000];

    public static TheoryData<int, int?> WindowsAndTolerances()
    {
        var data = new TheoryData<int, int?>();
        foreach (var window in GridWindowsMs)
        {
            foreach (var tolerance in GridTolerancesMs)
            {
                data.Add(window, tolerance);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WindowsAndTolerances))]
    public async Task ACopyReadFromL1AtLeastOncePerTolerance_NeverLetsRedisExpireIt(int windowMs, int? toleranceMs)
    {
        var window = TimeSpan.FromMilliseconds(windowMs);
        TimeSpan? configured = toleranceMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        await using var fleet = new CacheeTestFleet(o => o.SlidingRefreshTolerance = configured);
        var cache = await fleet.AddInstanceAsync();
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = window });
        var tolerance = TimeSpan.FromTicks(L2.EntryExpiration.ToleranceTicks(window.Ticks, configured));

        // Three windows of reads, one per tolerance (at most 1,500 reads: long windows with tiny tolerances read less often,
        // which the guarantee checked after every read covers as well).
        var interval = TimeSpan.FromTicks(Math.Max(tolerance.Ticks, window.Ticks * 3 / 1_500));
        var misses = cache.GetStatistics().L1Misses;
        for (var elapsed = TimeSpan.Zero; elapsed < 3 * window; elapsed += interval)
        {
            fleet.Time.Advance(interval);
            await ReadFromL1Async(cache, (int)(elapsed.Ticks / interval.Ticks));
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);

            var pttl = fleet.Redis.Pttl("s");
            Assert.True(
                TimeSpan.FromMilliseconds(pttl + 1) >= window - tolerance,
                $"after {elapsed + interval} of reads every {interval}: Redis' time to live is {pttl} ms, under the window {window} less the tolerance {tolerance}");
        }

        Assert.Equal(misses, cache.GetStatistics().L1Misses);
    }

    [Theory]
    [InlineData(1_000, null)]
    [InlineData(3_000, 1)]
    [InlineData(1_200_000, null)]
    [InlineData(1_200_000, 100)]
    public async Task ACappedSlidingEntry_IsKeptAliveUntilItsAbsoluteExpiration_ThenRenewalsStop(int windowMs, int? toleranceMs)
    {
        var window = TimeSpan.FromMilliseconds(windowMs);
        TimeSpan? configured = toleranceMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null;
        await using var fleet = new CacheeTestFleet(o => o.SlidingRefreshTolerance = configured);
        var cache = await fleet.AddInstanceAsync();
        var absolute = fleet.Time.GetUtcNow() + (window * 2.5);
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = window, AbsoluteExpiration = absolute });
        var tolerance = TimeSpan.FromTicks(L2.EntryExpiration.ToleranceTicks(window.Ticks, configured));
        var interval = TimeSpan.FromTicks(Math.Max(tolerance.Ticks, window.Ticks / 500));
        long renewalsOnceCapped = -1;
        var step = 0;
        while (fleet.Time.GetUtcNow() + interval < absolute - TimeSpan.FromTicks(cache.L1.Clock.Margin))
        {
            fleet.Time.Advance(interval);
            await ReadFromL1Async(cache, step++);
            await cache.Coordinator.FlushRefreshesAsync(CancellationToken.None);
            var expiry = fleet.Time.GetUtcNow().AddMilliseconds(fleet.Redis.Pttl("s") + 1);
            var wanted = Min(fleet.Time.GetUtcNow() + window - tolerance, absolute);
            Assert.True(expiry >= wanted, $"Redis expires at {expiry:O}, before {wanted:O}");
            if (renewalsOnceCapped < 0 && absolute - fleet.Time.GetUtcNow() < window - tolerance)
            {
                renewalsOnceCapped = cache.GetStatistics().L2Refreshes;
            }
        }

        // Once Redis' expiry sits at the absolute expiration, a renewal could not move it: at most one more is sent.
        Assert.InRange(cache.GetStatistics().L2Refreshes - renewalsOnceCapped, 0, 1);
        // Once renewals stop, the holder registration is no longer renewed either: a read misses (and registers again) at
        // most once per registration lifetime.
        Assert.InRange(cache.GetStatistics().L1Misses, 0, (long)(window * 2.5 / L2.HolderRegistry.Lifetime));
        fleet.Time.Advance(absolute - fleet.Time.GetUtcNow());
        Assert.Null(await cache.GetAsync("s"));
    }

    // Reads the way the session middleware and applications do, in turn: Get, GetAsync, Refresh and RefreshAsync.
    private static async Task ReadFromL1Async(TieredDistributedCache cache, int turn)
    {
        switch (turn % 4)
        {
            case 0:
                Assert.NotNull(cache.Get("s"));
                break;
            case 1:
                Assert.NotNull(await cache.GetAsync("s"));
                break;
            case 2:
                cache.Refresh("s");
                break;
            default:
                await cache.RefreshAsync("s");
                break;
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
