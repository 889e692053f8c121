using System.Diagnostics.Metrics;

namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// The counters of one cache instance, published through <see cref="System.Diagnostics.Metrics"/> on the meter
/// <c>Cachee.Sessions</c> (tagged with <c>cachee.instance</c>) and readable as <see cref="CacheeStatistics"/>.
/// </summary>
internal sealed class CacheeMetrics : IDisposable
{
    /// <summary>The meter name to listen to.</summary>
    public const string MeterName = "Cachee.Sessions";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;

    public CacheeMetrics(IMeterFactory? meterFactory, string instanceId, Func<long> l1Entries, Func<long> l1Bytes, bool countL1Hits)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        L1Entries = l1Entries;
        L1Bytes = l1Bytes;
        var tags = new KeyValuePair<string, object?>[] { new("cachee.instance", instanceId) };
        L1Hits = countL1Hits ? new PerThreadCounter() : null;
        if (L1Hits is { } hits)
        {
            Observe("cachee.l1.hits", hits, "Reads answered from L1.");
        }

        Observe("cachee.l1.misses", L1Misses, "Reads L1 could not answer.");
        Observe("cachee.l2.hits", L2Hits, "Reads answered by Redis.");
        Observe("cachee.l2.misses", L2Misses, "Reads Redis had no entry for.");
        Observe("cachee.invalidations.sent", InvalidationsSent, "Invalidations published.");
        Observe("cachee.invalidations.received", InvalidationsReceived, "Invalidations heard from other instances.");
        Observe("cachee.invalidations.malformed", InvalidationsMalformed, "Channel messages ignored as malformed.");
        Observe("cachee.l1.evictions", L1Evictions, "Entries evicted from L1.");
        Observe("cachee.l2.refreshes", L2Refreshes, "Background sliding renewals sent to Redis.");
        Observe("cachee.l2.unreadable", UnreadablePayloads, "Redis payloads that could not be read.");
        Observe("cachee.invalidations.ack_timeouts", AckTimeouts, "Writes that stopped waiting for acknowledgements.");
        Observe("cachee.l2.prefetches", Prefetches, "New values fetched into L1 right after an invalidation.");
        Observe("cachee.l2.failures", L2Failures, "Redis calls that got no answer in time, or no connection.");
        Observe("cachee.l2.breaker_openings", BreakerOpenings, "Times the circuit breaker opened.");
        Observe("cachee.l1.stale_hits", StaleHits, "Reads answered from a copy L1 could not vouch for, because Redis could not be asked.");
        Observe("cachee.replay.queued", ReplayQueued, "Writes accepted into the replay queue while Redis was unreachable.");
        Observe("cachee.replay.applied", ReplayApplied, "Queued writes written to Redis once it was back.");
        Observe("cachee.replay.superseded", ReplaySuperseded, "Queued writes dropped because Redis held newer data, or because they had expired.");
        _ = _meter.CreateObservableUpDownCounter("cachee.replay.pending", () => new Measurement<long>(ReplayPending(), tags), "{write}", "Writes waiting in the replay queue.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.entries", () => new Measurement<long>(L1Entries(), tags), "{entry}", "Entries in L1.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.bytes", () => new Measurement<long>(L1Bytes(), tags), "By", "Value bytes in L1.");

        void Observe(string name, PerThreadCounter counter, string description) =>
            _meter.CreateObservableCounter(name, () => new Measurement<long>(counter.Value, tags), null, description);
    }

    /// <summary>Reads answered from L1; null unless <see cref="CacheeOptions.CountL1Hits"/>.</summary>
    public PerThreadCounter? L1Hits { get; }

    public PerThreadCounter L1Misses { get; } = new();

    public PerThreadCounter L2Hits { get; } = new();

    public PerThreadCounter L2Misses { get; } = new();

    public PerThreadCounter InvalidationsSent { get; } = new();

    public PerThreadCounter InvalidationsReceived { get; } = new();

    public PerThreadCounter InvalidationsMalformed { get; } = new();

    public PerThreadCounter L1Evictions { get; } = new();

    public PerThreadCounter L2Refreshes { get; } = new();

    public PerThreadCounter UnreadablePayloads { get; } = new();

    public PerThreadCounter AckTimeouts { get; } = new();

    public PerThreadCounter Prefetches { get; } = new();

    public PerThreadCounter L2Failures { get; } = new();

    public PerThreadCounter BreakerOpenings { get; } = new();

    public PerThreadCounter StaleHits { get; } = new();

    public PerThreadCounter ReplayQueued { get; } = new();

    public PerThreadCounter ReplayApplied { get; } = new();

    public PerThreadCounter ReplaySuperseded { get; } = new();

    /// <summary>Reads the replay queue's length (set by the cache; 0 without a queue).</summary>
    public Func<long> ReplayPending { get; set; } = static () => 0;

    private Func<long> L1Entries { get; }

    private Func<long> L1Bytes { get; }

    public CacheeStatistics Snapshot() => new(
        L1Hits?.Value, L1Misses.Value, L2Hits.Value, L2Misses.Value, InvalidationsSent.Value, InvalidationsReceived.Value,
        InvalidationsMalformed.Value, L1Evictions.Value, L2Refreshes.Value, UnreadablePayloads.Value, L1Entries(), L1Bytes(),
        AckTimeouts.Value, Prefetches.Value, L2Failures.Value, BreakerOpenings.Value, StaleHits.Value, ReplayQueued.Value,
        ReplayApplied.Value, ReplaySuperseded.Value, ReplayPending());

    public void Dispose()
    {
        L1Hits?.Dispose();
        foreach (var counter in new[]
        {
            L1Misses, L2Hits, L2Misses, InvalidationsSent, InvalidationsReceived, InvalidationsMalformed, L1Evictions,
            L2Refreshes, UnreadablePayloads, AckTimeouts, Prefetches, L2Failures, BreakerOpenings, StaleHits, ReplayQueued,
            ReplayApplied, ReplaySuperseded,
        })
        {
            counter.Dispose();
        }

        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
