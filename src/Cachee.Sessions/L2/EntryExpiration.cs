using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.L2;

/// <summary>
/// The two expiration values RedisCache stores with an entry (<c>absexp</c> as UTC ticks, <c>sldexp</c> as ticks,
/// -1 for "none") and the arithmetic both tiers share.
/// </summary>
internal readonly record struct EntryExpiration(long AbsoluteTicks, long SlidingTicks)
{
    internal const long None = -1;

    public bool HasAbsolute => AbsoluteTicks > 0;

    public bool HasSliding => SlidingTicks > 0;

    /// <summary>Resolves the caller's options at <paramref name="nowTicks"/> exactly as RedisCache does.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The absolute expiration is not in the future.</exception>
    public static EntryExpiration FromOptions(DistributedCacheEntryOptions options, long nowTicks)
    {
        if (options.AbsoluteExpiration is { } at && at.UtcTicks <= nowTicks)
        {
            ThrowPastAbsolute(at);
        }

        var absolute = options.AbsoluteExpirationRelativeToNow is { } relative
            ? nowTicks + relative.Ticks
            : options.AbsoluteExpiration?.UtcTicks ?? None;

        return new EntryExpiration(absolute, options.SlidingExpiration?.Ticks ?? None);
    }

    /// <summary>
    /// The time to live Redis gets at <paramref name="nowTicks"/>: the sliding window, capped by the absolute expiration.
    /// Returns -1 for "no expiry"; otherwise at least 1 ms (Cachee keeps millisecond precision where RedisCache rounds down to seconds).
    /// A result of 0 means the entry is already expired.
    /// </summary>
    public long TtlMilliseconds(long nowTicks)
    {
        long ttlTicks;
        if (HasSliding)
        {
            ttlTicks = SlidingTicks;
            if (HasAbsolute && AbsoluteTicks - nowTicks < ttlTicks)
            {
                ttlTicks = AbsoluteTicks - nowTicks;
            }
        }
        else if (HasAbsolute)
        {
            ttlTicks = AbsoluteTicks - nowTicks;
        }
        else
        {
            return None;
        }

        return ttlTicks <= 0 ? 0 : Math.Max(1, ttlTicks / TimeSpan.TicksPerMillisecond);
    }

    /// <summary>
    /// True when a sliding renewal at <paramref name="nowTicks"/> sets Redis' expiry to the absolute expiration: no later
    /// renewal can move it (as <see cref="TtlMilliseconds"/> caps the window).
    /// </summary>
    public bool RenewalReachesAbsolute(long nowTicks) => HasSliding && HasAbsolute && AbsoluteTicks - nowTicks <= SlidingTicks;

    /// <summary>
    /// How far short of a full sliding window Redis may let the entry's time to live fall before a read renews it: 2% of the
    /// window, at most 30 s, unless <paramref name="configured"/> (then at most half the window). 0 without a sliding window.
    /// </summary>
    public static long ToleranceTicks(long slidingTicks, TimeSpan? configured)
    {
        if (slidingTicks <= 0)
        {
            return 0;
        }

        return configured is { } value
            ? Math.Min(value.Ticks, slidingTicks / 2)
            : Math.Min(slidingTicks / 50, MaxDefaultToleranceTicks);
    }

    private const long MaxDefaultToleranceTicks = 30 * TimeSpan.TicksPerSecond;

    private static void ThrowPastAbsolute(DateTimeOffset value) =>
        throw new ArgumentOutOfRangeException(
            nameof(DistributedCacheEntryOptions.AbsoluteExpiration), value, "The absolute expiration value must be in the future.");
}
