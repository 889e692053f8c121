namespace Cachee.Sessions.Diagnostics;

/// <summary>The counters of one cache instance, made first and handed to the parts that count; read by <see cref="CacheeMetrics"/>.</summary>
/// <param name="countL1Hits">Whether L1 hits are counted (<see cref="CacheeOptions.CountL1Hits"/>).</param>
internal sealed class CacheeCounters(bool countL1Hits)
{
    /// <summary>Reads answered from L1; null unless <see cref="CacheeOptions.CountL1Hits"/>.</summary>
    public HitCounter? L1Hits { get; } = countL1Hits ? new HitCounter() : null;

    public Counter L1Misses { get; } = new();

    public Counter L2Hits { get; } = new();

    public Counter L2Misses { get; } = new();

    public Counter InvalidationsSent { get; } = new();

    public Counter InvalidationsReceived { get; } = new();

    public Counter InvalidationsMalformed { get; } = new();

    public Counter Revocations { get; } = new();

    public Counter L1Evictions { get; } = new();

    public Counter L2Refreshes { get; } = new();

    public Counter UnreadablePayloads { get; } = new();

    public Counter AckTimeouts { get; } = new();

    public Counter Prefetches { get; } = new();

    /// <summary>Value bytes read from Redis (as stored: after compression and encryption they may differ in Redis).</summary>
    public Counter L2BytesRead { get; } = new();

    /// <summary>Value bytes written to Redis by this instance's writes.</summary>
    public Counter L2BytesWritten { get; } = new();

    public Counter L2Failures { get; } = new();

    public Counter BreakerOpenings { get; } = new();

    public Counter StaleHits { get; } = new();

    public Counter ReplayQueued { get; } = new();

    public Counter ReplayApplied { get; } = new();

    public Counter ReplaySuperseded { get; } = new();

    public Counter AckWaits { get; } = new();

    public Counter AckWaitTicks { get; } = new();

    /// <summary>Counts a write that waited for acknowledgements, and how long.</summary>
    public void RecordAckWait(TimeSpan waited)
    {
        AckWaits.Increment();
        AckWaitTicks.Add(waited.Ticks);
    }
}
