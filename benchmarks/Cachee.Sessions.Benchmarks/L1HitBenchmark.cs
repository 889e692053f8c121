using System.Buffers;
using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ZiggyCreatures.Caching.Fusion;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// One in-memory hit of a 40-character key holding 1 KB, on Cachee's L1 through every read API, against the
/// floor (<see cref="ConcurrentDictionary{TKey,TValue}.TryGetValue"/>) and what users would otherwise use in process.
/// </summary>
[Config(typeof(MicroConfig))]
public class L1HitBenchmark
{
    private readonly ConcurrentDictionary<string, byte[]> _dictionary = new(StringComparer.Ordinal);
    private readonly ArrayBufferWriter<byte> _writer = new(2048);
    private string _key = null!;
    private TieredDistributedCache _cachee = null!;
    private TieredDistributedCache _cacheeCounting = null!;
    private MemoryDistributedCache _memoryDistributed = null!;
    private MemoryCache _memoryCache = null!;
    private ServiceProvider _services = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusion = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = L1Fixtures.Key(1);
        var value = L1Fixtures.Value(1024);
        _dictionary[_key] = value;

        _cachee = L1Fixtures.StartCache();
        _cachee.Set(_key, value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _cacheeCounting = L1Fixtures.StartCache(o => o.CountL1Hits = true);
        _cacheeCounting.Set(_key, value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _memoryDistributed = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        _memoryDistributed.Set(_key, value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _memoryCache = new MemoryCache(new MemoryCacheOptions());
        _ = _memoryCache.Set(_key, value, new MemoryCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _services = new ServiceCollection().AddHybridCache().Services.BuildServiceProvider();
        _hybrid = _services.GetRequiredService<HybridCache>();
        _hybrid.SetAsync(_key, value).AsTask().GetAwaiter().GetResult();
        _fusion = new FusionCache(new FusionCacheOptions());
        _fusion.Set(_key, value);

        // Every contender must really hit (the default cache does not count hits: none of its reads may miss).
        var missesBefore = _cachee.GetStatistics().L1Misses;
        L1Fixtures.Check(value, CacheeGet(), "Cachee Get");
        L1Fixtures.Check(value, CacheeGetAsync().GetAwaiter().GetResult(), "Cachee GetAsync");
        L1Fixtures.Check(value, CacheeTryGet() ? _writer.WrittenSpan.ToArray() : null, "Cachee TryGet");
        L1Fixtures.Check(value, CacheeTryGetAsync().AsTask().GetAwaiter().GetResult() ? _writer.WrittenSpan.ToArray() : null, "Cachee TryGetAsync");
        var hitsBefore = _cacheeCounting.GetStatistics().L1Hits;
        L1Fixtures.Check(value, CacheeGetCountingHits(), "Cachee Get (CountL1Hits)");
        if (_cachee.GetStatistics().L1Misses != missesBefore || _cacheeCounting.GetStatistics() is not { L1Misses: 0 } counted
            || counted.L1Hits != hitsBefore + 1)
        {
            throw new InvalidOperationException("Cachee's reads were not L1 hits.");
        }

        L1Fixtures.Check(value, MemoryDistributedCacheGet(), "MemoryDistributedCache");
        L1Fixtures.Check(value, MemoryCacheTryGetValue(), "MemoryCache");
        L1Fixtures.Check(value, HybridCacheGetOrCreateAsync().AsTask().GetAwaiter().GetResult(), "HybridCache");
        L1Fixtures.Check(value, FusionCacheGetOrDefault(), "FusionCache");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachee.Dispose();
        _cacheeCounting.Dispose();
        _memoryCache.Dispose();
        _services.Dispose();
        _fusion.Dispose();
    }

    [Benchmark(Baseline = true, Description = "ConcurrentDictionary.TryGetValue (floor)")]
    public byte[]? DictionaryTryGetValue() => _dictionary.TryGetValue(_key, out var value) ? value : null;

    [Benchmark(Description = "Cachee Get")]
    public byte[]? CacheeGet() => _cachee.Get(_key);

    [Benchmark(Description = "Cachee Get, CountL1Hits = true")]
    public byte[]? CacheeGetCountingHits() => _cacheeCounting.Get(_key);

    [Benchmark(Description = "Cachee GetAsync")]
    public Task<byte[]?> CacheeGetAsync() => _cachee.GetAsync(_key);

    [Benchmark(Description = "Cachee TryGet (reused buffer writer)")]
    public bool CacheeTryGet()
    {
        _writer.ResetWrittenCount();
        return _cachee.TryGet(_key, _writer);
    }

    [Benchmark(Description = "Cachee TryGetAsync (reused buffer writer)")]
    public ValueTask<bool> CacheeTryGetAsync()
    {
        _writer.ResetWrittenCount();
        return _cachee.TryGetAsync(_key, _writer);
    }

    [Benchmark(Description = "MemoryDistributedCache Get")]
    public byte[]? MemoryDistributedCacheGet() => _memoryDistributed.Get(_key);

    [Benchmark(Description = "MemoryCache TryGetValue")]
    public byte[]? MemoryCacheTryGetValue() => _memoryCache.TryGetValue(_key, out byte[]? value) ? value : null;

    [Benchmark(Description = "HybridCache GetOrCreateAsync")]
    public ValueTask<byte[]> HybridCacheGetOrCreateAsync() =>
        _hybrid.GetOrCreateAsync<byte[]>(_key, static _ => throw new InvalidOperationException("HybridCache missed."));

    [Benchmark(Description = "FusionCache GetOrDefault")]
    public byte[]? FusionCacheGetOrDefault() => _fusion.GetOrDefault<byte[]>(_key);
}
