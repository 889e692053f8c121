using System.Diagnostics.Metrics;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions;

/// <summary>
/// An <see cref="IDistributedCache"/> in two tiers: an in-process L1 in every application instance over Redis as the shared L2,
/// kept coherent across instances by invalidations over Redis pub/sub. Entries are stored in Redis exactly as Microsoft's
/// <c>RedisCache</c> stores them, so both read each other's entries.
/// </summary>
/// <remarks>
/// <para>Arrays are shared, not copied: <see cref="Get"/> hands out the array held in L1, and <see cref="Set(string, byte[], DistributedCacheEntryOptions)"/> keeps the
/// caller's array. Neither may be mutated afterwards.</para>
/// <para>L1 is served only while this instance provably hears invalidations; otherwise every read goes to Redis.</para>
/// </remarks>
public sealed partial class TieredDistributedCache : IBufferDistributedCache, IDisposable, IAsyncDisposable
{
    private readonly L1Store _l1;
    private readonly IL2Store _l2;
    private readonly RedisConnection? _connection;
    private readonly CacheeMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan? _tolerance;
    private readonly TimeSpan _ackTimeout;
    private readonly TimeSpan _breakDuration;
    private readonly ReplayQueue? _replay;
    private PerThreadCounter? _l1Hits; // _metrics.L1Hits, held here so that a hit reaches it in one load (null: not counted)
    private bool _prefetch;
    private int _disposed;

    /// <summary>Creates a cache on Redis with the given options.</summary>
    /// <param name="options">The options; validated here.</param>
    public TieredDistributedCache(IOptions<CacheeOptions> options)
        : this(options, loggerFactory: null, timeProvider: null, meterFactory: null)
    {
    }

    /// <summary>Creates a cache on Redis with the given options and services.</summary>
    /// <param name="options">The options; validated here.</param>
    /// <param name="loggerFactory">Where logs go; none when null.</param>
    /// <param name="timeProvider">The clock; the system clock when null.</param>
    /// <param name="meterFactory">Creates the <c>Cachee.Sessions</c> meter; a standalone meter when null.</param>
    public TieredDistributedCache(IOptions<CacheeOptions> options, ILoggerFactory? loggerFactory, TimeProvider? timeProvider, IMeterFactory? meterFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        CacheeOptionsValidator.ThrowIfInvalid(value);
        InstanceId = Guid.NewGuid().ToString("N");
        _connection = new RedisConnection(value);
        var channel = ChannelName(value);
        var l2 = new RedisL2Store(_connection, value.InstanceName, channel, InstanceId, value.L2OperationTimeout, value.SlidingRefreshTolerance);
        var bus = new RedisInvalidationBus(_connection, channel, InstanceId, probeTimeout: TimeSpan.FromSeconds(5));
        (_ackTimeout, _breakDuration, _replay) = Settings(value);
        (_l1, _l2, _metrics, _time, _logger, _tolerance, Coordinator) =
            Assemble(value, l2, bus, timeProvider, loggerFactory, meterFactory, runLoops: true, InstanceId);
        Wire(value);
    }

    /// <summary>Creates a cache over the given tiers (tests and benchmarks use the in-memory ones).</summary>
    internal TieredDistributedCache(
        CacheeOptions options, IL2Store l2, IInvalidationBus bus, string instanceId,
        TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, bool runLoops = true)
    {
        CacheeOptionsValidator.ThrowIfInvalid(options);
        InstanceId = instanceId;
        (_ackTimeout, _breakDuration, _replay) = Settings(options);
        (_l1, _l2, _metrics, _time, _logger, _tolerance, Coordinator) =
            Assemble(options, l2, bus, timeProvider, loggerFactory, meterFactory, runLoops, instanceId);
        Wire(options);
    }

    private static (TimeSpan, TimeSpan, ReplayQueue?) Settings(CacheeOptions options) => (
        options.InvalidationAckTimeout, options.CircuitBreakerBreakDuration,
        options.WriteFailureMode == WriteFailureMode.Replay ? new ReplayQueue(options.ReplayQueueCapacity) : null);

    private void Wire(CacheeOptions options)
    {
        _prefetch = options.PrefetchOnInvalidation;
        _l1Hits = _metrics.L1Hits;
        Coordinator.Invalidated = OnInvalidated;
        if (_replay is { } replay)
        {
            _metrics.ReplayPending = () => replay.Count;
        }
    }

    /// <summary>This instance's identity on the invalidation channel (its own messages are ignored).</summary>
    public string InstanceId { get; }

    /// <summary>The background half of this cache; register it as a hosted service (AddCacheeSessions does).</summary>
    public ClusterCoordinator Coordinator { get; }

    /// <summary>The Redis database of this cache's connection (connecting first if needed); used for the Data Protection key ring.</summary>
    internal StackExchange.Redis.IDatabase GetDatabase() =>
        (_connection ?? throw new InvalidOperationException("This cache does not run on Redis."))
            .GetAsync(sync: true, CancellationToken.None).GetAwaiter().GetResult().GetDatabase();

    /// <summary>The L1 tier (tests and benchmarks look inside).</summary>
    internal L1Store L1 => _l1;

    /// <summary>A snapshot of this instance's counters.</summary>
    public CacheeStatistics GetStatistics() => _metrics.Snapshot();

    /// <summary>The default invalidation channel for the given options.</summary>
    internal static string ChannelName(CacheeOptions options) =>
        options.InvalidationChannel ?? (options.InstanceName + "__cachee:invalidations");

    /// <inheritdoc/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await FlushReplayAtShutdownAsync().ConfigureAwait(false);
        await Coordinator.DisposeAsync().ConfigureAwait(false);
        await _l2.DisposeAsync().ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _metrics.Dispose();
    }

    private static (L1Store, IL2Store, CacheeMetrics, TimeProvider, ILogger, TimeSpan?, ClusterCoordinator) Assemble(
        CacheeOptions options, IL2Store l2, IInvalidationBus bus, TimeProvider? timeProvider, ILoggerFactory? loggerFactory,
        IMeterFactory? meterFactory, bool runLoops, string instanceId)
    {
        var time = timeProvider ?? TimeProvider.System;
        var factory = loggerFactory ?? NullLoggerFactory.Instance;
        L1Store? l1 = null;
        var metrics = new CacheeMetrics(meterFactory, instanceId, () => l1?.Count ?? 0, () => l1?.Bytes ?? 0, options.CountL1Hits);
        l1 = new L1Store(options.L1MaxBytes, options.L1MaxEntries, options.L1MaxEntryBytes, metrics.L1Evictions.Increment, new L1Clock(time));
        var breaker = new CircuitBreaker(options.CircuitBreakerFailureThreshold, options.CircuitBreakerBreakDuration, time);
        var guarded = new GuardedL2Store(l2, options.L2OperationTimeout, breaker, time, metrics, factory.CreateLogger<GuardedL2Store>());
        var coordinator = new ClusterCoordinator(
            l1, guarded, bus, metrics, time, factory.CreateLogger<ClusterCoordinator>(), instanceId, options.ExpirationScanInterval, runLoops);
        return (l1, guarded, metrics, time, factory.CreateLogger<TieredDistributedCache>(), options.SlidingRefreshTolerance, coordinator);
    }
}
