using System.Globalization;
using System.Text;

namespace Cachee.Sessions;

/// <summary>
/// A snapshot of one cache instance's counters since it was created (the same figures its metrics report). New counters
/// are added as properties, so code that reads some of them keeps compiling.
/// </summary>
public sealed class CacheeStatistics
{
    /// <summary>Reads answered from L1 without I/O; null unless <see cref="CacheeOptions.CountL1Hits"/> is on.</summary>
    public long? L1Hits { get; init; }

    /// <summary>Reads L1 could not answer.</summary>
    public long L1Misses { get; init; }

    /// <summary>Reads answered by Redis.</summary>
    public long L2Hits { get; init; }

    /// <summary>Reads for which Redis had no entry.</summary>
    public long L2Misses { get; init; }

    /// <summary>Writes and removes this instance published.</summary>
    public long InvalidationsSent { get; init; }

    /// <summary>Invalidations from other instances this instance heard.</summary>
    public long InvalidationsReceived { get; init; }

    /// <summary>Keys Redis reported as changed by any client (server-assisted tracking), whose copies were dropped.</summary>
    public long Revocations { get; init; }

    /// <summary>Messages on the channel that were not understood and were ignored.</summary>
    public long InvalidationsMalformed { get; init; }

    /// <summary>Entries evicted from L1 to stay within its limits.</summary>
    public long L1Evictions { get; init; }

    /// <summary>Background sliding-expiration renewals sent to Redis on behalf of L1 hits.</summary>
    public long L2Refreshes { get; init; }

    /// <summary>Redis entries that could not be parsed (answered as misses).</summary>
    public long UnreadablePayloads { get; init; }

    /// <summary>Entries in L1 now.</summary>
    public long L1Entries { get; init; }

    /// <summary>Value bytes in L1 now.</summary>
    public long L1Bytes { get; init; }

    /// <summary>Writes that stopped waiting for other instances' acknowledgements.</summary>
    public long AckTimeouts { get; init; }

    /// <summary>New values fetched into L1 right after another instance changed them.</summary>
    public long Prefetches { get; init; }

    /// <summary>Value bytes read from Redis (<c>cachee.l2.bytes_read</c>), before decompression and decryption.</summary>
    public long L2BytesRead { get; init; }

    /// <summary>Value bytes written to Redis (<c>cachee.l2.bytes_written</c>), before compression and encryption.</summary>
    public long L2BytesWritten { get; init; }

    /// <summary>Redis calls that got no answer within the operation timeout, or no connection.</summary>
    public long L2Failures { get; init; }

    /// <summary>Times the circuit breaker opened.</summary>
    public long BreakerOpenings { get; init; }

    /// <summary>Reads answered from a copy L1 could not vouch for (stale-on-error), because Redis could not be asked.</summary>
    public long StaleHits { get; init; }

    /// <summary>Writes accepted into the replay queue while Redis was unreachable.</summary>
    public long ReplayQueued { get; init; }

    /// <summary>Queued writes written to Redis once it was back.</summary>
    public long ReplayApplied { get; init; }

    /// <summary>Queued writes dropped because Redis held newer data (or they had expired).</summary>
    public long ReplaySuperseded { get; init; }

    /// <summary>Writes waiting in the replay queue now.</summary>
    public long ReplayPending { get; init; }

    /// <summary>Writes that waited for other instances' acknowledgements (those with holders to wait for).</summary>
    public long AckWaits { get; init; }

    /// <summary>The time those writes spent waiting, in total (divide by <see cref="AckWaits"/> for the mean).</summary>
    public TimeSpan AckWaitTime { get; init; }

    /// <summary>
    /// The share of reads answered from L1, from 0 to 1 (0 when there were no reads); null when hits are not counted
    /// (<see cref="CacheeOptions.CountL1Hits"/>).
    /// </summary>
    public double? L1HitRatio => L1Hits is not { } hits ? null : hits + L1Misses == 0 ? 0 : (double)hits / (hits + L1Misses);

    /// <summary>Every counter as <c>Name = value</c>, for logs and test failures.</summary>
    /// <returns>The counters on one line.</returns>
    public override string ToString()
    {
        var text = new StringBuilder("CacheeStatistics {");
        foreach (var property in typeof(CacheeStatistics).GetProperties())
        {
            _ = text.Append(CultureInfo.InvariantCulture, $" {property.Name} = {property.GetValue(this) ?? "null"},");
        }

        text.Length--;
        return text.Append(" }").ToString();
    }
}
