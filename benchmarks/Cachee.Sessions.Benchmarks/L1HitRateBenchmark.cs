using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Hit rate under a skewed trace. 1,000,000 reads drawn from a Zipf(0.9) distribution over 100,000 keys, with room
/// for 10% of them (10,000 entries); a miss loads the key (for Cachee: from L2, which holds every key). Each operation
/// replays the whole trace on an empty cache; the "Hit rate" column is the result (times are for context only: Cachee's
/// misses go through its L2 path, the in-memory stand-in for Redis here).
/// </summary>
[Config(typeof(Config))]
public class L1HitRateBenchmark
{
    private const int KeySpace = 100_000;
    private const int Capacity = KeySpace / 10;
    private const int Reads = 1_000_000;
    private static readonly ConcurrentDictionary<string, double> HitRates = new();
    private static readonly DistributedCacheEntryOptions NoExpiry = new();
    private int[] _trace = null!;
    private string[] _keys = null!;
    private byte[] _value = null!;

    [GlobalSetup]
    public void Setup()
    {
        _trace = ZipfTrace.Create(KeySpace, 0.9, Reads, seed: 7);
        _keys = [.. Enumerable.Range(0, KeySpace).Select(L1Fixtures.Key)];
        _value = L1Fixtures.Value(64);
    }

    [Benchmark(Baseline = true, Description = "exact LRU")]
    public double ExactLru()
    {
        var lru = new ExactLru<int>(Capacity);
        var hits = 0;
        foreach (var key in _trace)
        {
            hits += lru.Access(key) ? 1 : 0;
        }

        return Record("exact LRU", hits);
    }

    [Benchmark(Description = "Cachee L1")]
    public double CacheeL1()
    {
        using var cache = L1Fixtures.StartCache(o =>
        {
            o.L1MaxEntries = Capacity;
            o.CountL1Hits = true;
        });
        foreach (var index in _trace)
        {
            var key = _keys[index];
            if (cache.Get(key) is null)
            {
                cache.Set(key, _value, NoExpiry);
            }
        }

        var statistics = cache.GetStatistics();
        if (statistics.L1Hits + statistics.L1Misses != Reads || statistics.L1Entries > Capacity)
        {
            throw new InvalidOperationException("Cachee's counters do not add up.");
        }

        return Record("Cachee L1", statistics.L1Hits!.Value);
    }

    [Benchmark(Description = "MemoryCache (SizeLimit)")]
    public double MemoryCacheWithSizeLimit()
    {
        using var cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = Capacity });
        var options = new MemoryCacheEntryOptions { Size = 1 };
        var hits = 0;
        foreach (var index in _trace)
        {
            var key = _keys[index];
            if (cache.TryGetValue(key, out _))
            {
                hits++;
            }
            else
            {
                _ = cache.Set(key, _value, options);
            }
        }

        return Record("MemoryCache (SizeLimit)", hits);
    }

    private static double Record(string name, long hits)
    {
        var rate = (double)hits / Reads;
        HitRates[name] = rate;
        return rate;
    }

    private sealed class Config() : MonitoringConfig(
        "Hit rate", "Share of the trace's reads that hit (last iteration)", HitRates, rate => rate.ToString("P2", CultureInfo.InvariantCulture));
}
