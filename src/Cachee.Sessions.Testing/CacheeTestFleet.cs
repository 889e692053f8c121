using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Testing;

/// <summary>
/// Several cache instances over one <see cref="InMemoryRedis"/>, on one fake clock: the fleet of an application scaled out,
/// inside a unit test. Every instance is a real <see cref="TieredDistributedCache"/> with its L1; only Redis is modelled.
/// </summary>
/// <remarks>
/// Background work does not run by itself, so that a test decides when it happens: <see cref="RunBackgroundWorkAsync"/>
/// sends the pending sliding renewals and sweeps expired copies on every instance.
/// </remarks>
public sealed class CacheeTestFleet : IAsyncDisposable
{
    private readonly List<TieredDistributedCache> _instances = [];
    private readonly Dictionary<TieredDistributedCache, InMemoryInvalidationBus> _buses = [];
    private readonly Dictionary<TieredDistributedCache, InMemoryTopology> _topologies = [];
    private readonly Action<CacheeOptions>? _configure;
    private readonly ILoggerFactory? _loggerFactory;

    /// <summary>Creates an empty fleet over a new <see cref="InMemoryRedis"/>.</summary>
    /// <param name="configure">Sets the options of every instance; <see cref="CacheeOptions.Configuration"/> is not used.</param>
    /// <param name="time">The clock of the fleet and of the model; a <see cref="FakeTimeProvider"/> at 2026-01-01 when null.</param>
    /// <param name="loggerFactory">Where the instances log; nowhere when null.</param>
    public CacheeTestFleet(Action<CacheeOptions>? configure = null, FakeTimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        _configure = configure;
        _loggerFactory = loggerFactory;
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Redis = new InMemoryRedis(Time);
    }

    /// <summary>The clock every instance and the model read; advance it to let time pass.</summary>
    public FakeTimeProvider Time { get; }

    /// <summary>The modelled Redis the instances share; it injects failures and pauses.</summary>
    public InMemoryRedis Redis { get; }

    /// <summary>The instances added so far, in order.</summary>
    public IReadOnlyList<TieredDistributedCache> Instances => _instances;

    /// <summary>Adds an instance and returns once it hears invalidations (its L1 is in use).</summary>
    /// <returns>The new instance.</returns>
    public async Task<TieredDistributedCache> AddInstanceAsync()
    {
        var cache = AddUnstarted();
        await cache.Coordinator.StartAsync(CancellationToken.None).ConfigureAwait(false);
        await WaitUntilAsync(() => cache.Coordinator.IsSubscribed || cache.Coordinator.IsCoherenceUnavailable).ConfigureAwait(false);
        return cache;
    }

    /// <summary>Plays a lost subscription on <paramref name="instance"/>: it stops serving L1 and misses invalidations.</summary>
    /// <param name="instance">An instance of this fleet.</param>
    public void DropSubscription(TieredDistributedCache instance) => BusOf(instance).Cut();

    /// <summary>Plays the subscription of <paramref name="instance"/> coming back: L1 is served again, from a new epoch.</summary>
    /// <param name="instance">An instance of this fleet.</param>
    public void RestoreSubscription(TieredDistributedCache instance) => BusOf(instance).Restore();

    /// <summary>
    /// Plays a Redis Cluster slot moving to a node no instance has proven yet (a reshard, a failover): every instance drops
    /// its copies of the keys <paramref name="keysOfSlot"/> selects and keeps none until <see cref="CompleteSlotMove"/>;
    /// their reads go to Redis meanwhile. Other keys are served from L1 throughout.
    /// </summary>
    /// <param name="keysOfSlot">Selects the keys of the slot that moves.</param>
    public void MoveSlot(Func<string, bool> keysOfSlot)
    {
        ArgumentNullException.ThrowIfNull(keysOfSlot);
        foreach (var instance in _instances)
        {
            _topologies[instance].Move(keysOfSlot);
            _buses[instance].LoseShard(keysOfSlot);
        }
    }

    /// <summary>Every instance proves the node the slot moved to: its keys may be held in L1 again.</summary>
    public void CompleteSlotMove()
    {
        foreach (var instance in _instances)
        {
            _topologies[instance].ProveAll();
            _buses[instance].ProveShard();
        }
    }

    /// <summary>Runs what the background upkeep of each instance would: pending sliding renewals, then the L1 sweep.</summary>
    /// <returns>A task that completes when the work is done.</returns>
    public async Task RunBackgroundWorkAsync()
    {
        foreach (var instance in _instances)
        {
            await instance.Coordinator.FlushRefreshesAsync(CancellationToken.None).ConfigureAwait(false);
            _ = instance.Coordinator.SweepExpired();
        }
    }

    /// <summary>Disposes every instance.</summary>
    /// <returns>A task that completes when every instance has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        foreach (var instance in _instances)
        {
            await instance.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Adds an instance whose bus reports that it cannot keep L1 coherent, started.</summary>
    internal async Task<TieredDistributedCache> AddWithoutCoherenceAsync()
    {
        var cache = AddUnstarted(coherenceUnavailable: "played by the test");
        await cache.Coordinator.StartAsync(CancellationToken.None).ConfigureAwait(false);
        await WaitUntilAsync(() => cache.Coordinator.IsCoherenceUnavailable).ConfigureAwait(false);
        return cache;
    }

    /// <summary>Adds an instance nobody has started.</summary>
    internal TieredDistributedCache AddUnstarted(string? coherenceUnavailable = null)
    {
        var options = new CacheeOptions { Configuration = "in-memory", CountL1Hits = true };
        _configure?.Invoke(options);
        var id = $"instance-{_instances.Count}-{Guid.NewGuid():N}";
        var bus = new InMemoryInvalidationBus(Redis.Hub, id, coherenceUnavailable);
        var topology = new InMemoryTopology();
        var cache = new TieredDistributedCache(options, new InMemoryL2Store(Redis, id), bus, id, Time, _loggerFactory, runLoops: false, topology: topology);
        _instances.Add(cache);
        _buses[cache] = bus;
        _topologies[cache] = topology;
        return cache;
    }

    /// <summary>The in-memory bus of an instance, to deliver messages to it directly.</summary>
    internal InMemoryInvalidationBus BusOf(TieredDistributedCache instance) =>
        _buses.TryGetValue(instance, out var bus) ? bus : throw new ArgumentException("The instance is not one of this fleet's.", nameof(instance));

    // The in-memory bus subscribes on a thread-pool thread: a real-time deadline, since the fake clock does not move by itself.
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The instance did not start within 10 seconds.");
            }

            await Task.Delay(1).ConfigureAwait(false);
        }
    }
}
