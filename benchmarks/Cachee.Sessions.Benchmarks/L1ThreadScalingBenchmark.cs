using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// L1 hits scale with threads. The same 2^20 reads per operation, on one thread or split over two, on one hot
/// key and uniformly over 10,000 keys (1 KB each). Times are per read; the 2-thread row's ratio is 1 / speed-up
/// (target: speed-up ≥ 1.8, ratio ≤ 0.56).
/// </summary>
[Config(typeof(MicroConfig))]
public class L1ThreadScalingBenchmark
{
    private const int Reads = 1 << 20;
    private string[] _trace = null!;
    private TieredDistributedCache _cache = null!;

    [Params("one key", "10k keys uniform")]
    public string Keys { get; set; } = "one key";

    [GlobalSetup]
    public void Setup()
    {
        var keyCount = Keys == "one key" ? 1 : 10_000;
        _cache = L1Fixtures.StartCache();
        var value = L1Fixtures.Value(1024);
        var keys = Enumerable.Range(0, keyCount).Select(L1Fixtures.Key).ToArray();
        foreach (var key in keys)
        {
            _cache.Set(key, value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        }

        var random = new Random(42);
        _trace = [.. Enumerable.Range(0, Reads).Select(_ => keys[random.Next(keyCount)])];
        var misses = _cache.GetStatistics().L1Misses;
        if (Read(0, 1000) != 1000 * 1024L || _cache.GetStatistics().L1Misses != misses)
        {
            throw new InvalidOperationException("The reads were not all L1 hits.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _cache.Dispose();

    [Benchmark(Baseline = true, Description = "1 thread", OperationsPerInvoke = Reads)]
    public long OneThread() => Read(0, Reads);

    [Benchmark(Description = "2 threads", OperationsPerInvoke = Reads)]
    public long TwoThreads()
    {
        long first = 0, second = 0;
        Parallel.Invoke(() => first = Read(0, Reads / 2), () => second = Read(Reads / 2, Reads));
        return first + second;
    }

    private long Read(int from, int to)
    {
        long bytes = 0;
        for (var i = from; i < to; i++)
        {
            bytes += _cache.Get(_trace[i])?.Length ?? 0;
        }

        return bytes;
    }
}
