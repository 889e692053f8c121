namespace Cachee.Sessions.L1;

/// <summary>
/// One value held in L1. Immutable but for the few fields below that readers touch only when they change:
/// a warm hit reads <see cref="ValidUntilTicks"/>, and writes <see cref="Accessed"/> or <see cref="RefreshQueued"/>
/// only when they are not already set, so repeated hits on one key make no shared write.
/// </summary>
internal sealed class L1Entry(
    string key, byte[] value, long version, int epoch, long absoluteTicks, long slidingTicks, long toleranceTicks, long validUntilTicks)
{
    public string Key { get; } = key;

    /// <summary>The stored bytes, handed to callers as they are (callers must not mutate them).</summary>
    public byte[] Value { get; } = value;

    /// <summary>The version Redis gave this value.</summary>
    public long Version { get; } = version;

    /// <summary>The subscription epoch the entry was loaded in; it is served only while that epoch is current.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>Absolute expiration in UTC ticks, or <see cref="long.MaxValue"/>.</summary>
    public long AbsoluteTicks { get; } = absoluteTicks;

    /// <summary>Sliding window in ticks, or 0.</summary>
    public long SlidingTicks { get; } = slidingTicks;

    /// <summary>How far short of a full window Redis may expire this entry after an L1 hit (see <c>CacheeOptions.SlidingRefreshTolerance</c>).</summary>
    public long ToleranceTicks { get; } = toleranceTicks;

    /// <summary>
    /// The UTC tick at which this copy stops being served: the earlier of the absolute expiration and the moment Redis
    /// is known to expire the entry, so an L1 copy never outlives the Redis entry. Moved forward by background refreshes.
    /// </summary>
    public long ValidUntilTicks = validUntilTicks;

    /// <summary>The CLOCK bit: set by hits, cleared by the eviction hand.</summary>
    public int Accessed;

    /// <summary>1 while a background sliding refresh of this entry is queued.</summary>
    public int RefreshQueued;

    /// <summary>Position in the stripe's CLOCK ring; guarded by the stripe lock.</summary>
    internal int Slot = -1;

    /// <summary>Set once the entry left L1; guarded by the stripe lock, read racily by the refresher.</summary>
    internal volatile bool Removed;

    /// <summary>A completed task handing out <see cref="Value"/>, made on the first asynchronous hit and reused after.</summary>
    internal Task<byte[]?>? CompletedTask;

    public long Size => Value.Length;
}
