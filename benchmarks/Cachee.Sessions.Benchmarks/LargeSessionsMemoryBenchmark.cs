using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Memory for 1,000 sessions of 1 MB. One instance first reads 5,000 small (1 KB) sessions three times each (the
/// everyday traffic), then loads 1,000 sessions of 1 MB from a loopback redis-server, once each. Columns: the managed heap it
/// keeps afterwards (after a full collection), what L1 holds, and how many of the small sessions are still served from L1.
/// With L1's default byte budget (256 MiB) the large sessions cannot push the small ones out (they are admitted by their
/// frequency, as everything in L1 is); with a budget that fits them all, the heap grows by their size, with no second copy.
/// </summary>
[Config(typeof(Config))]
public class LargeSessionsMemoryBenchmark
{
    private const int LargeSessions = 1_000;
    private const int SmallSessions = 5_000;
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private static readonly ConcurrentDictionary<string, Result> Results = new();
    private RedisProcess _redis = null!;
    private TieredDistributedCache? _reader;
    private string _prefix = string.Empty;

    /// <summary>L1's byte budget, in MiB.</summary>
    [Params(256, 2048)]
    public int L1MaxMiB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        _prefix = $"mem-{Guid.NewGuid():N}:";
        using var writer = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = _prefix }));
        var large = L1Fixtures.Value(1024 * 1024);
        for (var i = 0; i < LargeSessions; i++)
        {
            large[0] = (byte)i;
            writer.Set(Key("large", i), large, Sliding);
        }

        var small = L1Fixtures.Value(1024);
        for (var i = 0; i < SmallSessions; i++)
        {
            writer.Set(Key("small", i), small, Sliding);
        }
    }

    [IterationSetup]
    public void StartReader()
    {
        _reader?.Dispose();
        _reader = new TieredDistributedCache(Options.Create(new CacheeOptions
        {
            Configuration = _redis.Endpoint, InstanceName = _prefix, L1MaxBytes = L1MaxMiB * 1024L * 1024, CountL1Hits = true,
        }));
        L1Fixtures.StartAndWaitUntilSubscribed(_reader);
    }

    [Benchmark(Description = "1,000 sessions of 1 MB after 5,000 hot small ones")]
    public void LoadLargeSessions()
    {
        var reader = _reader!;
        for (var pass = 0; pass < 3; pass++)
        {
            for (var i = 0; i < SmallSessions; i++)
            {
                _ = reader.Get(Key("small", i));
            }
        }

        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        for (var i = 0; i < LargeSessions; i++)
        {
            if (reader.Get(Key("large", i)) is not { Length: 1024 * 1024 })
            {
                throw new InvalidOperationException("A large session read back wrong.");
            }
        }

        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        var smallKept = Enumerable.Range(0, SmallSessions).Count(i => reader.L1.TryPeek(Key("small", i), out _));
        var largeKept = Enumerable.Range(0, LargeSessions).Count(i => reader.L1.TryPeek(Key("large", i), out _));
        var statistics = reader.GetStatistics();
        Results[L1MaxMiB.ToString(CultureInfo.InvariantCulture)] = new Result(
            (heapAfter - heapBefore) / 1048576.0, statistics.L1Bytes / 1048576.0, largeKept, smallKept);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _reader?.Dispose();
        _redis.Dispose();
    }

    private static string Key(string kind, int index) => kind + "-" + index.ToString("D5", CultureInfo.InvariantCulture);

    private sealed record Result(double HeapGrowthMiB, double L1MiB, int LargeKept, int SmallKept);

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            _ = AddJob(OperationJob.InProcess(warmups: 1, iterations: 3, forceGc: true));
            _ = AddColumn(
                new ResultColumn("Heap growth", "Managed heap kept after the large loads (full collection), MiB", (_, c) => $"{For(c).HeapGrowthMiB:N0} MiB"),
                new ResultColumn("L1 bytes", "What L1 holds afterwards, MiB", (_, c) => $"{For(c).L1MiB:N0} MiB"),
                new ResultColumn("Large in L1", "Large sessions L1 holds afterwards (of 1,000)", (_, c) => For(c).LargeKept.ToString("N0", CultureInfo.InvariantCulture)),
                new ResultColumn("Small in L1", "Hot small sessions L1 still holds (of 5,000)", (_, c) => For(c).SmallKept.ToString("N0", CultureInfo.InvariantCulture)));
        }

        private static Result For(BenchmarkCase benchmarkCase) => Results[Convert.ToString(benchmarkCase.Parameters["L1MaxMiB"], CultureInfo.InvariantCulture)!];
    }
}
