using System.Diagnostics.Metrics;
using Cachee.Sessions.L1;

namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// The counters of one cache instance, published through <see cref="System.Diagnostics.Metrics"/> on the meter
/// <c>Cachee.Sessions</c> (tagged with <c>cachee.instance</c>) and readable as <see cref="CacheeStatistics"/>.
/// <para>A meter from an <see cref="IMeterFactory"/> is shared and outlives this cache (the factory disposes it), so once
/// disposed, this instance's instruments report nothing and hold no reference to its L1.</para>
/// </summary>
internal sealed class CacheeMetrics : IDisposable
{
    /// <summary>The meter name to listen to.</summary>
    public const string MeterName = "Cachee.Sessions";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?>[] _tags;
    private L1Store? _l1;
    private Func<long>? _replayPending;
    private Func<int>? _breakerState;
    private int _disposed;

    public CacheeMetrics(IMeterFactory? meterFactory, string instanceId, bool countL1Hits)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        var tags = new KeyValuePair<string, object?>[] { new("cachee.instance", instanceId) };
        _tags = tags;
        L1Hits = countL1Hits ? new PerThreadCounter() : null;
        if (L1Hits is { } hits)
        {
            Observe("cachee.l1.hits", hits, "{read}", "Reads answered from L1.");
        }

        Observe("cachee.l1.misses", L1Misses, "{read}", "Reads L1 could not answer.");
        Observe("cachee.l2.hits", L2Hits, "{read}", "Reads answered by Redis.");
        Observe("cachee.l2.misses", L2Misses, "{read}", "Reads Redis had no entry for.");
        Observe("cachee.invalidations.sent", InvalidationsSent, "{message}", "Invalidations published.");
        Observe("cachee.invalidations.received", InvalidationsReceived, "{message}", "Invalidations heard from other instances.");
        Observe("cachee.invalidations.revocations", Revocations, "{key}", "Keys Redis reported changed by any client.");
        Observe("cachee.invalidations.malformed", InvalidationsMalformed, "{message}", "Channel messages ignored as malformed.");
        Observe("cachee.l1.evictions", L1Evictions, "{entry}", "Entries evicted from L1.");
        Observe("cachee.l2.refreshes", L2Refreshes, "{renewal}", "Background sliding renewals sent to Redis.");
        Observe("cachee.l2.unreadable", UnreadablePayloads, "{payload}", "Redis payloads that could not be read.");
        Observe("cachee.invalidations.ack_timeouts", AckTimeouts, "{write}", "Writes that stopped waiting for acknowledgements.");
        Observe("cachee.l2.prefetches", Prefetches, "{read}", "New values fetched into L1 right after an invalidation.");
        Observe("cachee.l2.failures", L2Failures, "{call}", "Redis calls that got no answer in time, or no connection.");
        Observe("cachee.l2.breaker_openings", BreakerOpenings, "{opening}", "Times the circuit breaker opened.");
        Observe("cachee.l1.stale_hits", StaleHits, "{read}", "Reads answered from a copy L1 could not vouch for, because Redis could not be asked.");
        Observe("cachee.replay.queued", ReplayQueued, "{write}", "Writes accepted into the replay queue while Redis was unreachable.");
        Observe("cachee.replay.applied", ReplayApplied, "{write}", "Queued writes written to Redis once it was back.");
        Observe("cachee.replay.superseded", ReplaySuperseded, "{write}", "Queued writes dropped because Redis held newer data, or because they had expired.");

        AckWait = _meter.CreateHistogram<double>(
            "cachee.invalidation.ack.duration", "s", "How long writes waited for the other instances' acknowledgements (writes with holders to wait for).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });

        void Observe(string name, PerThreadCounter counter, string unit, string description) =>
            _meter.CreateObservableCounter(name, () => Measure(counter.Value), unit, description);
    }

    /// <summary>How long writes waited for acknowledgements, in seconds (tagged with the instance).</summary>
    public void RecordAckWait(TimeSpan waited)
    {
        AckWait.Record(waited.TotalSeconds, _tags[0]);
        AckWaits.Increment();
        AckWaitTicks.Add(waited.Ticks);
    }

    public PerThreadCounter AckWaits { get; } = new();

    public PerThreadCounter AckWaitTicks { get; } = new();

    private Histogram<double> AckWait { get; }

    /// <summary>
    /// Publishes the gauges of L1's size, the replay queue's length and the circuit breakers' worst state (0 closed, 1
    /// half-open, 2 open), once, when the cache has built them.
    /// </summary>
    public void Observe(L1Store l1, Func<long> replayPending, Func<int> breakerState)
    {
        _breakerState = breakerState;
        _ = _meter.CreateObservableGauge("cachee.l2.breaker.state", () => Measure(_breakerState?.Invoke()), "{state}", "The worst circuit breaker state: 0 closed, 1 half-open, 2 open.");
        _l1 = l1;
        _replayPending = replayPending;
        _ = _meter.CreateObservableUpDownCounter("cachee.replay.pending", () => Measure(_replayPending?.Invoke()), "{write}", "Writes waiting in the replay queue.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.entries", () => Measure(_l1?.Count), "{entry}", "Entries in L1.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.bytes", () => Measure(_l1?.Bytes), "By", "Value bytes in L1.");
    }

    /// <summary>Reads answered from L1; null unless <see cref="CacheeOptions.CountL1Hits"/>.</summary>
    public PerThreadCounter? L1Hits { get; }

    public PerThreadCounter L1Misses { get; } = new();

    public PerThreadCounter L2Hits { get; } = new();

    public PerThreadCounter L2Misses { get; } = new();

    public PerThreadCounter InvalidationsSent { get; } = new();

    public PerThreadCounter InvalidationsReceived { get; } = new();

    public PerThreadCounter InvalidationsMalformed { get; } = new();

    public PerThreadCounter Revocations { get; } = new();

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

    public CacheeStatistics Snapshot() => new()
    {
        L1Hits = L1Hits?.Value,
        L1Misses = L1Misses.Value,
        L2Hits = L2Hits.Value,
        L2Misses = L2Misses.Value,
        InvalidationsSent = InvalidationsSent.Value,
        InvalidationsReceived = InvalidationsReceived.Value,
        InvalidationsMalformed = InvalidationsMalformed.Value,
        Revocations = Revocations.Value,
        L1Evictions = L1Evictions.Value,
        L2Refreshes = L2Refreshes.Value,
        UnreadablePayloads = UnreadablePayloads.Value,
        L1Entries = _l1?.Count ?? 0,
        L1Bytes = _l1?.Bytes ?? 0,
        AckTimeouts = AckTimeouts.Value,
        Prefetches = Prefetches.Value,
        L2Failures = L2Failures.Value,
        BreakerOpenings = BreakerOpenings.Value,
        StaleHits = StaleHits.Value,
        ReplayQueued = ReplayQueued.Value,
        ReplayApplied = ReplayApplied.Value,
        ReplaySuperseded = ReplaySuperseded.Value,
        ReplayPending = _replayPending?.Invoke() ?? 0,
        AckWaits = AckWaits.Value,
        AckWaitTime = TimeSpan.FromTicks(AckWaitTicks.Value),
    };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _l1 = null;
        _replayPending = null;
        _breakerState = null;
        L1Hits?.Dispose();
        foreach (var counter in new[]
        {
            L1Misses, L2Hits, L2Misses, InvalidationsSent, InvalidationsReceived, InvalidationsMalformed, Revocations,
            L1Evictions, L2Refreshes, UnreadablePayloads, AckTimeouts, Prefetches, L2Failures, BreakerOpenings, StaleHits, ReplayQueued,
            ReplayApplied, ReplaySuperseded, AckWaits, AckWaitTicks,
        })
        {
            counter.Dispose();
        }

        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    // Nothing once disposed (the instruments of a shared meter stay registered; they must not report a closed cache).
    private IEnumerable<Measurement<long>> Measure(long? value) =>
        Volatile.Read(ref _disposed) == 0 && value is { } v ? [new Measurement<long>(v, _tags)] : [];
}
