using System.Diagnostics.Metrics;

namespace Cachee.Sessions.Diagnostics;

/// <summary>
/// Publishes one cache instance's counters and gauges through <see cref="System.Diagnostics.Metrics"/> on the meter
/// <see cref="CacheeTelemetry.MeterName"/> (tagged with <c>cachee.instance</c>), and reads them as <see cref="CacheeStatistics"/>.
/// Built last, from the parts it reports on.
/// </summary>
/// <remarks>
/// A meter from an <see cref="IMeterFactory"/> is shared and outlives this cache (the factory disposes it), so once disposed,
/// this instance's instruments report nothing and hold no reference to its L1.
/// </remarks>
internal sealed class CacheeMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly CacheeCounters _counters;
    private readonly Histogram<double> _ackWait;
    private Func<long>? _l1Entries;
    private Func<long>? _l1Bytes;
    private Func<long>? _replayPending;
    private Func<int>? _breakerState;
    private int _disposed;

    /// <param name="meterFactory">Creates the meter; a meter of this instance's own when null.</param>
    /// <param name="instanceId">The <c>cachee.instance</c> tag.</param>
    /// <param name="counters">The counters to publish.</param>
    /// <param name="l1Entries">How many entries L1 holds.</param>
    /// <param name="l1Bytes">How many value bytes L1 holds.</param>
    /// <param name="replayPending">How many writes wait in the replay queue.</param>
    /// <param name="breakerState">The worst circuit breaker state: 0 closed, 1 half-open, 2 open.</param>
    public CacheeMetrics(
        IMeterFactory? meterFactory, string instanceId, CacheeCounters counters,
        Func<long> l1Entries, Func<long> l1Bytes, Func<long> replayPending, Func<int> breakerState)
    {
        _counters = counters;
        _l1Entries = l1Entries;
        _l1Bytes = l1Bytes;
        _replayPending = replayPending;
        _breakerState = breakerState;
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(new MeterOptions(CacheeTelemetry.MeterName)) ?? new Meter(CacheeTelemetry.MeterName);
        _tags = [new("cachee.instance", instanceId)];
        if (counters.L1Hits is { } hits)
        {
            _ = _meter.CreateObservableCounter("cachee.l1.hits", () => Measure(hits.Value), "{read}", "Reads answered from L1.");
        }

        Observe("cachee.l1.misses", counters.L1Misses, "{read}", "Reads L1 could not answer.");
        Observe("cachee.l2.hits", counters.L2Hits, "{read}", "Reads answered by Redis.");
        Observe("cachee.l2.misses", counters.L2Misses, "{read}", "Reads Redis had no entry for.");
        Observe("cachee.invalidations.sent", counters.InvalidationsSent, "{message}", "Invalidations published.");
        Observe("cachee.invalidations.received", counters.InvalidationsReceived, "{message}", "Invalidations heard from other instances.");
        Observe("cachee.invalidations.revocations", counters.Revocations, "{key}", "Keys Redis reported changed by any client.");
        Observe("cachee.invalidations.malformed", counters.InvalidationsMalformed, "{message}", "Channel messages ignored as malformed.");
        Observe("cachee.l1.evictions", counters.L1Evictions, "{entry}", "Entries evicted from L1.");
        Observe("cachee.l2.refreshes", counters.L2Refreshes, "{renewal}", "Background sliding renewals sent to Redis.");
        Observe("cachee.l2.unreadable", counters.UnreadablePayloads, "{payload}", "Redis payloads that could not be read.");
        Observe("cachee.invalidations.ack_timeouts", counters.AckTimeouts, "{write}", "Writes that stopped waiting for acknowledgements.");
        Observe("cachee.l2.prefetches", counters.Prefetches, "{read}", "New values fetched into L1 right after an invalidation.");
        Observe("cachee.l2.bytes_read", counters.L2BytesRead, "By", "Value bytes read from Redis.");
        Observe("cachee.l2.bytes_written", counters.L2BytesWritten, "By", "Value bytes written to Redis.");
        Observe("cachee.l2.failures", counters.L2Failures, "{call}", "Redis calls that got no answer in time, or no connection.");
        Observe("cachee.l2.breaker_openings", counters.BreakerOpenings, "{opening}", "Times the circuit breaker opened.");
        Observe("cachee.l1.stale_hits", counters.StaleHits, "{read}", "Reads answered from a copy L1 could not vouch for, because Redis could not be asked.");
        Observe("cachee.replay.queued", counters.ReplayQueued, "{write}", "Writes accepted into the replay queue while Redis was unreachable.");
        Observe("cachee.replay.applied", counters.ReplayApplied, "{write}", "Queued writes written to Redis once it was back.");
        Observe("cachee.replay.superseded", counters.ReplaySuperseded, "{write}", "Queued writes dropped because Redis held newer data, or because they had expired.");
        _ = _meter.CreateObservableGauge("cachee.l2.breaker.state", () => Measure(_breakerState?.Invoke()), "{state}", "The worst circuit breaker state: 0 closed, 1 half-open, 2 open.");
        _ = _meter.CreateObservableUpDownCounter("cachee.replay.pending", () => Measure(_replayPending?.Invoke()), "{write}", "Writes waiting in the replay queue.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.entries", () => Measure(_l1Entries?.Invoke()), "{entry}", "Entries in L1.");
        _ = _meter.CreateObservableUpDownCounter("cachee.l1.bytes", () => Measure(_l1Bytes?.Invoke()), "By", "Value bytes in L1.");
        _ackWait = _meter.CreateHistogram<double>(
            "cachee.invalidation.ack.duration", "s", "How long writes waited for the other instances' acknowledgements (writes with holders to wait for).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] });

        void Observe(string name, Counter counter, string unit, string description) =>
            _meter.CreateObservableCounter(name, () => Measure(counter.Value), unit, description);
    }

    /// <summary>Records how long a write waited for acknowledgements, in seconds (tagged with the instance).</summary>
    public void RecordAckWait(TimeSpan waited)
    {
        _ackWait.Record(waited.TotalSeconds, _tags[0]);
        _counters.RecordAckWait(waited);
    }

    public CacheeStatistics Snapshot() => new()
    {
        L1Hits = _counters.L1Hits?.Value,
        L1Misses = _counters.L1Misses.Value,
        L2Hits = _counters.L2Hits.Value,
        L2Misses = _counters.L2Misses.Value,
        InvalidationsSent = _counters.InvalidationsSent.Value,
        InvalidationsReceived = _counters.InvalidationsReceived.Value,
        InvalidationsMalformed = _counters.InvalidationsMalformed.Value,
        Revocations = _counters.Revocations.Value,
        L1Evictions = _counters.L1Evictions.Value,
        L2Refreshes = _counters.L2Refreshes.Value,
        UnreadablePayloads = _counters.UnreadablePayloads.Value,
        L1Entries = _l1Entries?.Invoke() ?? 0,
        L1Bytes = _l1Bytes?.Invoke() ?? 0,
        AckTimeouts = _counters.AckTimeouts.Value,
        Prefetches = _counters.Prefetches.Value,
        L2BytesRead = _counters.L2BytesRead.Value,
        L2BytesWritten = _counters.L2BytesWritten.Value,
        L2Failures = _counters.L2Failures.Value,
        BreakerOpenings = _counters.BreakerOpenings.Value,
        StaleHits = _counters.StaleHits.Value,
        ReplayQueued = _counters.ReplayQueued.Value,
        ReplayApplied = _counters.ReplayApplied.Value,
        ReplaySuperseded = _counters.ReplaySuperseded.Value,
        ReplayPending = _replayPending?.Invoke() ?? 0,
        AckWaits = _counters.AckWaits.Value,
        AckWaitTime = TimeSpan.FromTicks(_counters.AckWaitTicks.Value),
    };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _l1Entries = null;
        _l1Bytes = null;
        _replayPending = null;
        _breakerState = null;
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    // Nothing once disposed (the instruments of a shared meter stay registered; they must not report a closed cache).
    private IEnumerable<Measurement<long>> Measure(long? value) =>
        Volatile.Read(ref _disposed) == 0 && value is { } v ? [new Measurement<long>(v, _tags)] : [];
}
