using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// How long after a write on instance A instance B serves the new value .
/// B holds the old value in L1 at the start of every operation and is asked until it answers with the new value.
/// "after A's SetAsync returned" is the target's definition: the write runs in the iteration setup and the clock starts
/// once it has returned. "SetAsync on A, then B serves" also counts the write itself. The baseline is the floor any design pays: one PUBLISH heard by another connection.
/// Each iteration is a single operation and no outlier is removed, so the P99 column is the p99 of single operations.
/// </summary>
[Config(typeof(LatencyConfig))]
public class InvalidationLatencyBenchmark
{
    private readonly DistributedCacheEntryOptions _options = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private RedisProcess _redis = null!;
    private TieredDistributedCache _a = null!;
    private TieredDistributedCache _b = null!;
    private ConnectionMultiplexer _publisher = null!;
    private ConnectionMultiplexer _listener = null!;
    private RedisChannel _channel;
    private long _counter;
    private long _heard;
    private long _written;
    private readonly ManualResetEventSlim _signal = new(false, spinCount: 0);

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        _a = Start();
        _b = Start();
        _a.Set("session", BitConverter.GetBytes(0L), _options);
        _ = _b.Get("session");
        _publisher = ConnectionMultiplexer.Connect(_redis.Endpoint);
        _listener = ConnectionMultiplexer.Connect(_redis.Endpoint);
        _channel = RedisChannel.Literal("bench:raw");
        _listener.GetSubscriber().Subscribe(_channel).OnMessage(m =>
        {
            Volatile.Write(ref _heard, (long)m.Message);
            _signal.Set();
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
        _publisher.Dispose();
        _listener.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw PUBLISH heard by another connection")]
    public async Task RawPublishHeard()
    {
        var value = ++_counter;
        _ = await _publisher.GetSubscriber().PublishAsync(_channel, value).ConfigureAwait(false);
        while (Volatile.Read(ref _heard) != value)
        {
            _ = _signal.Wait(TimeSpan.FromSeconds(1));
            _signal.Reset();
        }
    }

    [Benchmark(Description = "SetAsync on A, then B serves the new value")]
    public async Task SetOnA_ThenBServesIt()
    {
        var value = ++_counter;
        await _a.SetAsync("session", BitConverter.GetBytes(value), _options).ConfigureAwait(false);
        while (BitConverter.ToInt64(await _b.GetAsync("session").ConfigureAwait(false)) != value)
        {
            _ = Thread.Yield();
        }
    }

    [IterationSetup(Target = nameof(BServesWriteThatReturnedOnA))]
    public void WriteOnA()
    {
        _written = ++_counter;
        _a.SetAsync("session", BitConverter.GetBytes(_written), _options).GetAwaiter().GetResult();
    }

    [Benchmark(Description = "after A's SetAsync returned, B serves the new value")]
    public async Task BServesWriteThatReturnedOnA()
    {
        while (BitConverter.ToInt64(await _b.GetAsync("session").ConfigureAwait(false)) != _written)
        {
            _ = Thread.Yield();
        }
    }

    private TieredDistributedCache Start()
    {
        var cache = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = "bench:" }));
        cache.Coordinator.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var spinner = default(SpinWait);
        while (!cache.Coordinator.IsSubscribed)
        {
            spinner.SpinOnce();
        }

        return cache;
    }

    private sealed class LatencyConfig : ManualConfig
    {
        public LatencyConfig()
        {
            _ = AddJob(Job.Default
                .WithStrategy(RunStrategy.Monitoring)
                .WithInvocationCount(1)
                .WithUnrollFactor(1)
                .WithWarmupCount(200)
                .WithIterationCount(2000)
                .WithLaunchCount(1)
                .WithGcForce(false) // a forced full GC between one-operation iterations would bleed into the next measurement
                // In process: a separate host process reading 2,000 per-iteration reports would compete for the two cores
                // with Redis and the client threads during the measurements.
                .WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance)
                .WithOutlierMode(Perfolizer.Mathematics.OutlierDetection.OutlierMode.DontRemove)); // a p99 must keep the slow ones
            _ = AddColumn(StatisticColumn.P50, StatisticColumn.P95, new ResultColumn("P99", "99th percentile of the measurements", (s, c) => $"{s[c]!.ResultStatistics!.Percentiles.Percentile(99) / 1000.0:N1} μs"), StatisticColumn.Max);
            _ = AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default);
        }
    }
}
