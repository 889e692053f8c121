using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>Creates cache instances on the test Redis, each with its own multiplexer as separate app instances would have.</summary>
internal sealed class Instances(string endpoint, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null, string? prefix = null) : IAsyncDisposable
{
    public Instances(RedisServer redis)
        : this(redis.Endpoint)
    {
    }

    private readonly List<IAsyncDisposable> _created = [];

    /// <summary>A key prefix no other test uses.</summary>
    public string Prefix { get; } = prefix ?? $"t{Guid.NewGuid():N}:";

    public async Task<TieredDistributedCache> StartAsync(Action<CacheeOptions>? configure = null)
    {
        var cache = Create(configure);
        await cache.Coordinator.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "the subscription becomes live");
        return cache;
    }

    public TieredDistributedCache Create(Action<CacheeOptions>? configure = null)
    {
        var options = new CacheeOptions { Configuration = endpoint, InstanceName = Prefix, CountL1Hits = true }; // tests read the hit counts
        configure?.Invoke(options);
        var cache = new TieredDistributedCache(Options.Create(options), loggerFactory, null, null);
        _created.Add(cache);
        return cache;
    }

    public RedisCache CreateRedisCache()
    {
        var cache = new RedisCache(Options.Create(new RedisCacheOptions { Configuration = endpoint, InstanceName = Prefix }));
        _created.Add(new DisposeAdapter(cache));
        return cache;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var item in _created)
        {
            await item.DisposeAsync();
        }
    }

    private sealed class DisposeAdapter(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
