using Cachee.Sessions.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Cachee.Sessions.Tests;

/// <summary>
/// Several cache instances over one in-memory L2 server and invalidation hub, on one fake clock: a fleet in a test.
/// Background loops are off: tests drive renewals and sweeps through the coordinator's internal methods.
/// </summary>
internal sealed class Fleet : IAsyncDisposable
{
    private readonly List<TieredDistributedCache> _caches = [];
    private readonly Dictionary<TieredDistributedCache, InMemoryInvalidationBus> _buses = [];

    public Fleet(Action<CacheeOptions>? configure = null)
    {
        Configure = configure;
        Server = new InMemoryL2Server(Time, new InMemoryInvalidationHub());
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public InMemoryL2Server Server { get; }

    private Action<CacheeOptions>? Configure { get; }

    /// <summary>Adds an instance whose subscription is live.</summary>
    public async Task<TieredDistributedCache> AddAsync()
    {
        var cache = AddUnstarted();
        await cache.Coordinator.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the subscription becomes live");
        return cache;
    }

    /// <summary>Adds an instance whose bus reports that it cannot keep L1 coherent (as on a Redis Cluster), started.</summary>
    public async Task<TieredDistributedCache> AddWithoutCoherenceAsync()
    {
        var cache = AddUnstarted(coherenceUnavailable: "played by the test");
        await cache.Coordinator.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => cache.Coordinator.IsCoherenceUnavailable, "the bus reports it");
        return cache;
    }

    /// <summary>Adds an instance nobody has started.</summary>
    public TieredDistributedCache AddUnstarted(string? coherenceUnavailable = null)
    {
        var options = new CacheeOptions { Configuration = "in-memory", CountL1Hits = true }; // tests read the hit counts
        Configure?.Invoke(options);
        var id = $"instance-{_caches.Count}-{Guid.NewGuid():N}";
        var bus = new InMemoryInvalidationBus(Server.Hub, id, coherenceUnavailable);
        var cache = new TieredDistributedCache(options, new InMemoryL2Store(Server, id), bus, id, Time, runLoops: false);
        _caches.Add(cache);
        _buses[cache] = bus;
        return cache;
    }

    public InMemoryInvalidationBus BusOf(TieredDistributedCache cache) => _buses[cache];

    public async ValueTask DisposeAsync()
    {
        foreach (var cache in _caches)
        {
            await cache.DisposeAsync();
        }
    }
}
