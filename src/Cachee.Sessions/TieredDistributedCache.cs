using System.Diagnostics.Metrics;
using Cachee.Sessions.Coordination;
using Cachee.Sessions.Diagnostics;
using Cachee.Sessions.Invalidation;
using Cachee.Sessions.L1;
using Cachee.Sessions.L2;
using Cachee.Sessions.Payload;
using Cachee.Sessions.Redis;
using Cachee.Sessions.Redis.Cluster;
using Cachee.Sessions.Replay;
using Cachee.Sessions.Validation;
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
/// <para>The files of this class are split by concern: reads (<c>.Read.cs</c>), writes and removes (<c>.Write.cs</c>), what
/// happens when another instance changes a key (<c>.Invalidation.cs</c>) and logging (<c>.Log.cs</c>); this one builds the
/// parts and ends their lifetime.</para>
/// </remarks>
public sealed partial class TieredDistributedCache : IBufferDistributedCache, IDisposable, IAsyncDisposable
{
    private readonly L1Store _l1;
    private readonly L1Copies _copies;
    private readonly HoldingPolicy _holding;
    private readonly IL2Store _l2;
    private readonly IInvalidationBus _bus;
    private readonly WriteReplayer _replay;
    private readonly RedisConnection? _connection;
    private readonly CacheeCounters _counters;
    private readonly CacheeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeSpan _ackTimeout;
    private readonly bool _prefetch;
    private readonly TimeProvider _time;
    private readonly CircuitBreakers _breakers;
    private readonly TimeSpan _operationTimeout;
    private readonly TimeSpan? _slidingTolerance;
    private readonly HitCounter? _l1Hits; // _counters.L1Hits, held here so that a hit reaches it in one load (null: not counted)
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
        : this(Validated(options), Guid.NewGuid().ToString("N"), timeProvider, loggerFactory, meterFactory)
    {
    }

    /// <summary>Creates a cache over the given tiers (tests and benchmarks use the in-memory ones).</summary>
    internal TieredDistributedCache(
        CacheeOptions options, IL2Store l2, IInvalidationBus bus, string instanceId,
        TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, bool runLoops = true,
        IKeyTopology? topology = null)
        : this(Validated(options), instanceId, timeProvider, loggerFactory, meterFactory, (l2, bus, topology ?? SingleNodeTopology.Instance), runLoops)
    {
    }

    // Builds the parts in one direction: L1, the L2 access around the store, the coordinator over both, the replayer.
    private TieredDistributedCache(
        CacheeOptions options, string instanceId, TimeProvider? timeProvider, ILoggerFactory? loggerFactory, IMeterFactory? meterFactory,
        (IL2Store Store, IInvalidationBus Bus, IKeyTopology Topology)? tiers = null, bool runLoops = true)
    {
        InstanceId = instanceId;
        var time = timeProvider ?? TimeProvider.System;
        var logs = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = logs.CreateLogger<TieredDistributedCache>();
        _ackTimeout = options.InvalidationAckTimeout;
        _prefetch = options.PrefetchOnInvalidation;
        var (store, bus, topology) = tiers ?? OnRedis(options, instanceId, logs.CreateLogger<RedisConnection>(), out _connection);
        _bus = bus;

        _counters = new CacheeCounters(options.CountL1Hits);
        _l1Hits = _counters.L1Hits;
        var renewals = new RenewalRequests();
        _l1 = new L1Store(options.L1MaxBytes, options.L1MaxEntries, options.L1MaxEntryBytes, _counters.L1Evictions.Increment, new L1Clock(time), renewals);
        _copies = new L1Copies(_l1, time, options.SlidingRefreshTolerance, topology.CanHold);
        _holding = new HoldingPolicy(options.L1MaxEntries, options.HoldOnlyPayingCopies);
        var breakers = new CircuitBreakers(options.CircuitBreakerFailureThreshold, options.CircuitBreakerBreakDuration, time, topology);
        _breakers = breakers;
        _time = time;
        _operationTimeout = options.L2OperationTimeout;
        _slidingTolerance = options.SlidingRefreshTolerance;
        var guarded = new GuardedL2Store(store, options.L2OperationTimeout, breakers, time, _counters, logs.CreateLogger<GuardedL2Store>());
        _l2 = guarded;
        Coordinator = new ClusterCoordinator(
            _l1, _holding, renewals, guarded, bus, _counters, time, logs.CreateLogger<ClusterCoordinator>(), instanceId, options.ExpirationScanInterval, runLoops);
        Coordinator.Invalidated += OnInvalidated;
        _replay = new WriteReplayer(
            options.WriteFailureMode == WriteFailureMode.Replay ? new ReplayQueue(options.ReplayQueueCapacity) : null,
            _l1, _copies, guarded, _counters, time, options.CircuitBreakerBreakDuration, logs.CreateLogger<WriteReplayer>());
        _metrics = new CacheeMetrics(
            meterFactory, instanceId, _counters, () => _l1.Count, () => _l1.Bytes, () => _replay.Count, () => breakers.Worst() switch { BreakerState.Open => 2, BreakerState.HalfOpen => 1, _ => 0 });
    }

    /// <summary>
    /// Checks, at start-up, that Redis lets this cache do its work: it reads and writes (a script) a key of its own and
    /// subscribes to a channel of its own. Throws <see cref="InvalidOperationException"/> when Redis refuses: the user lacks a
    /// permission (<c>NOPERM</c>: the README's Security section has the ACL rule), or the connection itself is refused (an
    /// untrusted TLS certificate, credentials). A Redis that is merely unreachable is not an error here: it is logged, and
    /// the cache starts, serving from Redis once it is back.
    /// </summary>
    internal async Task CheckAccessAsync(CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(_operationTimeout * 5); // a read and a write script, each bounded by the operation timeout, and a subscription
        try
        {
            await _l2.CheckAccessAsync(limit.Token).WaitAsync(limit.Token).ConfigureAwait(false);
            await _bus.CheckAccessAsync(limit.Token).WaitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (StackExchange.Redis.RedisServerException ex) when (ex.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"Redis refused a command Cachee needs ({ex.Message}). Grant the Redis user the ACL rule in the Cachee.Sessions README "
                + "(section Security: ACL SETUSER …), with its key pattern on InstanceName and its channel patterns.",
                ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if ((_l2.ConnectionProblem ?? RedisConnection.RefusalIn(ex)) is { } problem)
            {
                throw new InvalidOperationException($"Cachee cannot connect to Redis: {problem}.", ex);
            }

            Log.AccessUnchecked(_logger, ex);
        }
    }

    /// <summary>This instance's identity on the invalidation channel (its own messages are ignored).</summary>
    public string InstanceId { get; }

    /// <summary>The background half of this cache (the subscription, sliding renewals, the L1 sweep).</summary>
    internal ClusterCoordinator Coordinator { get; }

    /// <summary>The clock this cache runs on (sessions time their loads and commits with it).</summary>
    internal TimeProvider Time => _time;

    /// <summary>The L1 tier (tests and benchmarks look inside).</summary>
    internal L1Store L1 => _l1;

    /// <summary>Which keys this instance keeps copies of (tests look inside).</summary>
    internal HoldingPolicy Holding => _holding;

    /// <summary>A snapshot of this instance's counters.</summary>
    public CacheeStatistics GetStatistics() => _metrics.Snapshot();

    /// <summary>The Redis database of this cache's connection (connecting first if needed); used for the Data Protection key ring.</summary>
    internal StackExchange.Redis.IDatabase GetDatabase() =>
        (_connection ?? throw new InvalidOperationException("This cache does not run on Redis."))
            .GetAsync(sync: true, CancellationToken.None).GetAwaiter().GetResult().GetDatabase();

    /// <summary>The default invalidation channel for the given options.</summary>
    internal static string ChannelName(CacheeOptions options) =>
        options.InvalidationChannel ?? (options.InstanceName + "__cachee:invalidations");

    /// <summary>
    /// The host stops: writes still queued for replay are written to Redis and pending sliding renewals are sent, as far as
    /// <paramref name="token"/> (the host's shutdown deadline) allows.
    /// </summary>
    internal async Task StopAsync(CancellationToken token)
    {
        await _replay.DrainAsync(token).ConfigureAwait(false);
        await Coordinator.StopAsync(token).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends this cache at once, without waiting for Redis: the subscription and the connection are closed, background work
    /// stops, and writes still queued for replay are dropped and logged (the hosted service drains them when the host stops
    /// first, as it does in an orderly shutdown).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Close();
        }
    }

    /// <summary>As <see cref="Dispose"/>, then waits for this cache's background work to end (it does not wait for Redis).</summary>
    /// <returns>A task that completes when the cache is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Close();
        await Task.WhenAll(Coordinator.Stopped, _replay.Stopped).ConfigureAwait(false);
    }

    private void Close()
    {
        _replay.Abandon();
        Coordinator.Dispose();
        _connection?.Dispose();
        _metrics.Dispose();
        _l1.Clock.Dispose();
    }

    private static CacheeOptions Validated(CacheeOptions options)
    {
        CacheeOptionsValidator.ThrowIfInvalid(options);
        return options;
    }

    private static CacheeOptions Validated(IOptions<CacheeOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Validated(options.Value);
    }

    // The topology first: the inboxes, the bus, the store and (through the caller) the breakers are handed it.
    private static (IL2Store, IInvalidationBus, IKeyTopology) OnRedis(CacheeOptions options, string instanceId, ILogger connectionLogger, out RedisConnection connection)
    {
        connection = new RedisConnection(options, RedisInvalidationBus.ClientNameFor(instanceId), connectionLogger);
        var topology = new ClusterTopology(options.InstanceName);
        var inboxes = new ShardInboxes(topology, ChannelName(options), instanceId, new MessagePump("Cachee messages " + instanceId[..8]));
        var bus = new RedisInvalidationBus(connection, topology, inboxes, instanceId, options.InstanceName, probeTimeout: TimeSpan.FromSeconds(5));
        var store = new RedisL2Store(
            connection, options.InstanceName, topology, inboxes, instanceId, options.L2OperationTimeout, options.SlidingRefreshTolerance, options.MinReplicasToAcknowledge,
            options.LargeValueThreshold, PayloadCodec.For(options));
        return (store, bus, topology);
    }
}
