using Cachee.Sessions.L2;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Tests;

public sealed class EntryExpirationTests
{
    private static readonly long Now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    [Fact]
    public void FromOptions_ResolvesRelativeAbsoluteAndSlidingAsRedisCacheDoes()
    {
        var relative = EntryExpiration.FromOptions(new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(5) }, Now);
        Assert.Equal((Now + TimeSpan.FromMinutes(5).Ticks, EntryExpiration.None), (relative.AbsoluteTicks, relative.SlidingTicks));

        var both = EntryExpiration.FromOptions(
            new DistributedCacheEntryOptions { AbsoluteExpiration = new DateTimeOffset(Now, TimeSpan.Zero).AddHours(1), SlidingExpiration = TimeSpan.FromMinutes(20) }, Now);
        Assert.Equal((Now + TimeSpan.TicksPerHour, TimeSpan.FromMinutes(20).Ticks), (both.AbsoluteTicks, both.SlidingTicks));

        var none = EntryExpiration.FromOptions(new DistributedCacheEntryOptions(), Now);
        Assert.False(none.HasAbsolute || none.HasSliding);
    }

    [Fact]
    public void FromOptions_RejectsAnAbsoluteExpirationNotInTheFuture()
    {
        var options = new DistributedCacheEntryOptions { AbsoluteExpiration = new DateTimeOffset(Now, TimeSpan.Zero) };
        var thrown = Assert.Throws<ArgumentOutOfRangeException>(() => EntryExpiration.FromOptions(options, Now));
        Assert.Equal(nameof(DistributedCacheEntryOptions.AbsoluteExpiration), thrown.ParamName);
    }

    [Theory]
    [InlineData(-1, -1, 0, -1)] // no expiry
    [InlineData(-1, 60_000, 0, 60_000)] // the window
    [InlineData(30_000, 60_000, 0, 30_000)] // capped by the absolute expiration
    [InlineData(30_000, -1, 10_000, 20_000)] // absolute only: what is left
    [InlineData(30_000, 60_000, 30_000, 0)] // expired
    [InlineData(1, -1, 0, 1)] // under a millisecond left: 1 ms, never 0 while not expired (RedisCache would round to 0 s)
    public void TtlMilliseconds_IsTheWindowCappedByTheAbsoluteExpiration(long absoluteInMs, long slidingMs, long elapsedMs, long expected)
    {
        var expiration = new EntryExpiration(
            absoluteInMs < 0 ? EntryExpiration.None : Now + (absoluteInMs * TimeSpan.TicksPerMillisecond) - (absoluteInMs == 1 ? 9_999 : 0),
            slidingMs < 0 ? EntryExpiration.None : slidingMs * TimeSpan.TicksPerMillisecond);
        Assert.Equal(expected, expiration.TtlMilliseconds(Now + (elapsedMs * TimeSpan.TicksPerMillisecond)));
    }

    [Fact]
    public void RenewalReachesAbsolute_OnceTheAbsoluteExpirationIsWithinAWindow()
    {
        var window = TimeSpan.FromMinutes(20).Ticks;
        var expiration = new EntryExpiration(Now + (3 * window), window);
        Assert.False(expiration.RenewalReachesAbsolute(Now));
        Assert.False(expiration.RenewalReachesAbsolute(Now + (2 * window) - 1));
        Assert.True(expiration.RenewalReachesAbsolute(Now + (2 * window)));
        Assert.False(new EntryExpiration(EntryExpiration.None, window).RenewalReachesAbsolute(Now));
        Assert.False(new EntryExpiration(Now + window, EntryExpiration.None).RenewalReachesAbsolute(Now));
    }

    [Fact]
    public void ToleranceTicks_IsTwoPercentAtMostThirtySeconds_OrTheConfiguredValueAtMostHalfTheWindow()
    {
        Assert.Equal(TimeSpan.FromSeconds(24).Ticks, EntryExpiration.ToleranceTicks(TimeSpan.FromMinutes(20).Ticks, null));
        Assert.Equal(TimeSpan.FromSeconds(30).Ticks, EntryExpiration.ToleranceTicks(TimeSpan.FromHours(1).Ticks, null));
        Assert.Equal(TimeSpan.FromMilliseconds(5).Ticks, EntryExpiration.ToleranceTicks(TimeSpan.FromMilliseconds(250).Ticks, null));
        Assert.Equal(TimeSpan.FromSeconds(5).Ticks, EntryExpiration.ToleranceTicks(TimeSpan.FromMinutes(20).Ticks, TimeSpan.FromSeconds(5)));
        Assert.Equal(TimeSpan.FromSeconds(2).Ticks, EntryExpiration.ToleranceTicks(TimeSpan.FromSeconds(4).Ticks, TimeSpan.FromSeconds(30)));
        Assert.Equal(0, EntryExpiration.ToleranceTicks(0, TimeSpan.FromSeconds(5)));
    }
}
