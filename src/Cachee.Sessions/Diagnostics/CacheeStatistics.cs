namespace Cachee.Sessions;

/// <summary>A snapshot of one cache instance's counters since it was created (the same figures its metrics report).</summary>
/// <param name="L1Hits">Reads answered from L1 without I/O; null unless <see cref="CacheeOptions.CountL1Hits"/> is on.</param>
/// <param name="L1Misses">Reads L1 could not answer.</param>
/// <param name="L2Hits">Reads answered by Redis.</param>
/// <param name="L2Misses">Reads for which Redis had no entry.</param>
/// <param name="InvalidationsSent">Writes and removes this instance published.</param>
/// <param name="InvalidationsReceived">Invalidations from other instances this instance heard.</param>
/// <param name="InvalidationsMalformed">Messages on the channel that were not understood and were ignored.</param>
/// <param name="L1Evictions">Entries evicted from L1 to stay within its limits.</param>
/// <param name="L2Refreshes">Background sliding-expiration renewals sent to Redis on behalf of L1 hits.</param>
/// <param name="UnreadablePayloads">Redis entries that could not be parsed (answered as misses).</param>
/// <param name="L1Entries">Entries in L1 now.</param>
/// <param name="L1Bytes">Value bytes in L1 now.</param>
/// <param name="AckTimeouts">Writes that stopped waiting for other instances' acknowledgements.</param>
/// <param name="Prefetches">New values fetched into L1 right after another instance changed them.</param>
/// <param name="L2Failures">Redis calls that got no answer within the operation timeout, or no connection.</param>
/// <param name="BreakerOpenings">Times the circuit breaker opened.</param>
/// <param name="StaleHits">Reads answered from a copy L1 could not vouch for (stale-on-error), because Redis could not be asked.</param>
/// <param name="ReplayQueued">Writes accepted into the replay queue while Redis was unreachable.</param>
/// <param name="ReplayApplied">Queued writes written to Redis once it was back.</param>
/// <param name="ReplaySuperseded">Queued writes dropped because Redis held newer data (or they had expired).</param>
/// <param name="ReplayPending">Writes waiting in the replay queue now.</param>
public readonly record struct CacheeStatistics(
    long? L1Hits,
    long L1Misses,
    long L2Hits,
    long L2Misses,
    long InvalidationsSent,
    long InvalidationsReceived,
    long InvalidationsMalformed,
    long L1Evictions,
    long L2Refreshes,
    long UnreadablePayloads,
    long L1Entries,
    long L1Bytes,
    long AckTimeouts = 0,
    long Prefetches = 0,
    long L2Failures = 0,
    long BreakerOpenings = 0,
    long StaleHits = 0,
    long ReplayQueued = 0,
    long ReplayApplied = 0,
    long ReplaySuperseded = 0,
    long ReplayPending = 0)
{
    /// <summary>
    /// The share of reads answered from L1, from 0 to 1 (0 when there were no reads); null when hits are not counted
    /// (<see cref="CacheeOptions.CountL1Hits"/>).
    /// </summary>
    public double? L1HitRatio => L1Hits is not { } hits ? null : hits + L1Misses == 0 ? 0 : (double)hits / (hits + L1Misses);
}
