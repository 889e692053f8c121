using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Cachee.Sessions.Redis;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Small reads while large sessions move. One measured instance reads 1 KB sessions that L1 cannot answer (for
/// Cachee, its copy is dropped before each read, so every read goes to Redis), one after another, and records each read's
/// latency. With <see cref="Traffic"/> other than "idle", a background loop meanwhile has another instance change a 2 MB
/// session, and the measured instance load it and save it back: 20 such rounds a second (6 MB moved per round: 120 MB/s),
/// or as many as it can ("flat out", several hundred MB/s on this two-core machine, where the process and Redis then compete
/// for the cores and the garbage collector for large arrays). Columns: the small reads' p50 and p99, and the large rounds
/// completed meanwhile.
/// </summary>
[Config(typeof(Config))]
public class LargeSessionsBenchmark
{
    private const int ReadsPerOperation = 2_000;
    private const int SmallSessions = 512;
    private const int LargeBytes = 2 * 1024 * 1024;
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private static readonly ConcurrentDictionary<string, Result> Results = new();
    private readonly LatencyRecorder _reads = new();
    private RedisProcess? _redis;
    private IDistributedCache _measured = null!;
    private IDistributedCache _other = null!;
    private byte[][] _small = [];
    private CancellationTokenSource? _stop;
    private Task _background = Task.CompletedTask;
    private long _largeRounds;
    private int _next;

    /// <summary>What moves in the background: nothing, or 2 MB sessions.</summary>
    [Params("idle", "2 MB, 20/s", "2 MB, flat out")]
    public string Traffic { get; set; } = "idle";

    /// <summary>Cachee's <see cref="CacheeOptions.LargeValueConnections"/> (RedisCache has none).</summary>
    [Params(0, 1, 2, 4)]
    public int LargeConnections { get; set; } = 2;

    [GlobalSetup(Target = nameof(RedisCache))]
    public void SetupRedisCache() => Setup(prefix => new RedisCache(Options.Create(new RedisCacheOptions { Configuration = _redis!.Endpoint, InstanceName = prefix })));

    [GlobalSetup(Target = nameof(Cachee))]
    public void SetupCachee() => Setup(prefix =>
    {
        var cache = new TieredDistributedCache(Options.Create(new CacheeOptions
        {
            Configuration = _redis!.Endpoint, InstanceName = prefix, L1MaxEntryBytes = 4 * 1024 * 1024, LargeValueConnections = LargeConnections,
        }));
        L1Fixtures.StartAndWaitUntilSubscribed(cache);
        return cache;
    });

    [Benchmark(Baseline = true, Description = "RedisCache")]
    public void RedisCache() => ReadSmall();

    [Benchmark(Description = "Cachee")]
    public void Cachee() => ReadSmall();

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop?.Cancel();
        _background.GetAwaiter().GetResult();
        Results[Describe()] = new Result(_reads.Percentile(50), _reads.Percentile(99), _largeRounds);
        (_measured as IDisposable)?.Dispose();
        (_other as IDisposable)?.Dispose();
        _redis?.Dispose();
    }

    private string Describe() => string.Create(CultureInfo.InvariantCulture, $"{_measured.GetType().Name}|{Traffic}|{LargeConnections}");

    private void Setup(Func<string, IDistributedCache> create)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        _ = ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
        _redis = RedisProcess.Start();
        var prefix = $"large-{Guid.NewGuid():N}:";
        _measured = create(prefix);
        _other = create(prefix);
        _small = [.. Enumerable.Range(0, SmallSessions).Select(i => L1Fixtures.Value(1024, seed: i + 1))];
        for (var i = 0; i < SmallSessions; i++)
        {
            _other.Set(SmallKey(i), _small[i], Sliding);
        }

        if (Traffic != "idle")
        {
            _stop = new CancellationTokenSource();
            _background = Task.Run(() => MoveLargeSessionsAsync(_stop.Token));
        }
    }

    // The other instance changes the large session; the measured one loads it, then saves it (as the request that changed it).
    private async Task MoveLargeSessionsAsync(CancellationToken stop)
    {
        var values = new[] { L1Fixtures.Value(LargeBytes, seed: 7), L1Fixtures.Value(LargeBytes, seed: 8) };
        var paced = Traffic.EndsWith("/s", StringComparison.Ordinal);
        var clock = Stopwatch.StartNew();
        for (var round = 0; !stop.IsCancellationRequested; round++)
        {
            if (paced && clock.Elapsed < TimeSpan.FromMilliseconds(50 * round))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 * round) - clock.Elapsed, CancellationToken.None);
            }

            await _other.SetAsync("big", values[round % 2], Sliding, CancellationToken.None);
            var loaded = await _measured.GetAsync("big", CancellationToken.None);
            L1Fixtures.Check(values[round % 2], loaded, "the large session loaded");
            await _measured.SetAsync("big", values[(round + 1) % 2], Sliding, CancellationToken.None);
            _ = Interlocked.Increment(ref _largeRounds);
        }
    }

    private void ReadSmall()
    {
        for (var i = 0; i < ReadsPerOperation; i++)
        {
            var index = _next++ % SmallSessions;
            var key = SmallKey(index);
            if (_measured is TieredDistributedCache cachee && cachee.L1.TryPeek(key, out var copy))
            {
                cachee.L1.Remove(key, copy.Version);
            }

            var started = Stopwatch.GetTimestamp();
            var value = _measured.Get(key);
            _reads.Record(Stopwatch.GetElapsedTime(started));
            if (value is not { Length: 1024 } || value[0] != _small[index][0])
            {
                throw new InvalidOperationException($"The small session {key} read back wrong.");
            }
        }
    }

    private static string SmallKey(int index) => "small-" + index.ToString("D4", CultureInfo.InvariantCulture);

    private sealed record Result(double P50, double P99, long LargeRounds);

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            _ = AddJob(OperationJob.InProcess(warmups: 2, iterations: 8));
            _ = AddColumn(
                new ResultColumn("Small read p50", "Median 1 KB read that L1 cannot answer", (_, c) => Micro(For(c).P50)),
                new ResultColumn("Small read p99", "99th percentile of those reads", (_, c) => Micro(For(c).P99)),
                new ResultColumn("2 MB rounds", "Large sessions changed elsewhere, loaded and saved meanwhile", (_, c) => For(c).LargeRounds.ToString(CultureInfo.InvariantCulture)));
        }

        private static Result For(BenchmarkCase benchmarkCase)
        {
            var store = benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(Cachee) ? nameof(TieredDistributedCache) : nameof(Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache);
            return Results[string.Create(CultureInfo.InvariantCulture, $"{store}|{benchmarkCase.Parameters["Traffic"]}|{benchmarkCase.Parameters["LargeConnections"]}")];
        }

        private static string Micro(double microseconds) => $"{microseconds:N0} μs";
    }
}
