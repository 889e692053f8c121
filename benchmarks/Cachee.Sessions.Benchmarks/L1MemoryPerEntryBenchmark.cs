using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using Cachee.Sessions.L1;
using Microsoft.Extensions.Caching.Memory;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Memory an L1 holds per entry beyond the key and value themselves, over 1,000,000 entries (40-character keys,
/// 32-byte values created before the measurement, so only the store's own objects count). Each operation fills a new store
/// and measures what stays reachable after full, compacting collections (so its time includes those collections); the
/// "Bytes/entry" column is the result. Cachee's row fills its L1 store as the cache does on a read.
/// </summary>
[Config(typeof(Config))]
public class L1MemoryPerEntryBenchmark
{
    private const int Entries = 1_000_000;
    private static readonly ConcurrentDictionary<string, double> Overheads = new();
    private string[] _keys = null!;
    private byte[][] _values = null!;

    [GlobalSetup]
    public void Setup()
    {
        _keys = [.. Enumerable.Range(0, Entries).Select(L1Fixtures.Key)];
        _values = [.. Enumerable.Range(0, Entries).Select(i => L1Fixtures.Value(32, i))];
    }

    [Benchmark(Baseline = true, Description = "ConcurrentDictionary<string, byte[]>")]
    public object Dictionary() => Measure("ConcurrentDictionary<string, byte[]>", () =>
    {
        var dictionary = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        for (var i = 0; i < Entries; i++)
        {
            dictionary[_keys[i]] = _values[i];
        }

        return dictionary;
    });

    [Benchmark(Description = "Cachee L1")]
    public object CacheeL1() => Measure("Cachee L1", () =>
    {
        var l1 = new L1Store(long.MaxValue, int.MaxValue, int.MaxValue, static () => { });
        var epoch = l1.Resume();
        var validUntil = l1.Clock.Now() + TimeSpan.FromHours(1).Ticks;
        for (var i = 0; i < Entries; i++)
        {
            var ticket = l1.BeginRead(_keys[i]);
            var entry = new L1Entry(_keys[i], _values[i], 1, epoch, validUntil, TimeSpan.FromMinutes(20).Ticks - TimeSpan.FromSeconds(24).Ticks);
            if (!l1.TryInstallRead(ticket, entry))
            {
                throw new InvalidOperationException("An entry was not installed.");
            }
        }

        return l1;
    });

    [Benchmark(Description = "MemoryCache")]
    public object MemoryCache() => Measure("MemoryCache", () =>
    {
        var cache = new MemoryCache(new MemoryCacheOptions());
        var options = new MemoryCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) };
        for (var i = 0; i < Entries; i++)
        {
            _ = cache.Set(_keys[i], _values[i], options);
        }

        return cache;
    });

    private static object Measure(string name, Func<object> fill)
    {
        var before = Retained();
        var store = fill();
        var after = Retained();
        Overheads[name] = (double)(after - before) / Entries;
        GC.KeepAlive(store);
        return store;
    }

    private static long Retained()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private sealed class Config() : MonitoringConfig(
        "Bytes/entry", "Bytes the store keeps per entry beyond the key and value objects", Overheads,
        bytes => bytes.ToString("N1", System.Globalization.CultureInfo.InvariantCulture));
}
