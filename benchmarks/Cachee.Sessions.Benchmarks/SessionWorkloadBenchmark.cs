using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The session workload, the same on four stores in one run (RedisCache, Cachee, the shared in-process ceiling, and
/// the ceiling plus one Redis write per session write, the floor of any store whose writes are durable in Redis): 3 instances of an ASP.NET Core app with
/// <c>UseSession</c>, 32 users each sending 20 requests round robin across the instances (all users at once), 90% reads and
/// 10% writes, Redis on loopback. One operation is the 640 requests. Extra columns: requests/s (from the mean), per-request
/// p50/p99 (recorded around every request of every iteration), and Redis commands per request from <c>INFO commandstats</c>,
/// for this mixed workload and for a read-only pass run after the measurements on the same warm instances (whose
/// requests/s are given too: one timing of <see cref="ReadOnlyPasses"/> operations, not BenchmarkDotNet's statistics).
/// <para>Each store first runs the workload for <see cref="WarmUp"/> before anything is counted, then 20 warm-up and 100
/// measured operations: with a few warm-up operations only, much of the code still ran unoptimised (tiered JIT) and the
/// figures depended on which store happened to run first.</para>
/// </summary>
[Config(typeof(Config))]
public class SessionWorkloadBenchmark
{
    private const int ReadOnlyPasses = 50;
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(15);
    private static readonly ConcurrentDictionary<string, SessionResult> Results = new();
    private readonly LatencyRecorder _latencies = new();
    private readonly LatencyRecorder _writeLatencies = new();
    private RedisProcess? _redis;
    private ConnectionMultiplexer? _admin;
    private SessionFleetHarness _fleet = null!;
    private SessionStore _store;
    private long _requests;
    private TimeSpan _processCpuAtStart;
    private double _redisCpuAtStart;

    [GlobalSetup(Target = nameof(RedisCache))]
    public void SetupRedisCache() => Setup(SessionStore.RedisCache);

    [GlobalSetup(Target = nameof(Cachee))]
    public void SetupCachee() => Setup(SessionStore.Cachee);

    [GlobalSetup(Target = nameof(SharedMemory))]
    public void SetupSharedMemory() => Setup(SessionStore.SharedMemory);

    [GlobalSetup(Target = nameof(SharedMemoryDurableWrites))]
    public void SetupSharedMemoryDurableWrites() => Setup(SessionStore.SharedMemoryDurableWrites);

    [Benchmark(Baseline = true, Description = "RedisCache")]
    public Task RedisCache() => RunAsync();

    [Benchmark(Description = "Cachee")]
    public Task Cachee() => RunAsync();

    [Benchmark(Description = "shared MemoryDistributedCache (ceiling)")]
    public Task SharedMemory() => RunAsync();

    [Benchmark(Description = "ceiling + 1 Redis write per write (floor)")]
    public Task SharedMemoryDurableWrites() => RunAsync();

    [GlobalCleanup]
    public void Cleanup()
    {
        var mixedCommands = Commands();
        var mixedPerRequest = (double)mixedCommands / _requests;
        var processCpu = (ProcessCpu() - _processCpuAtStart).TotalMicroseconds / _requests;
        var redisCpu = (RedisCpuSeconds() - _redisCpuAtStart) * 1e6 / _requests;

        // The read-only pass: warm instances, every request a read.
        ResetStats();
        var readRequests = ReadOnlyPasses * SessionFleetHarness.RequestsPerOperation;
        var reading = Stopwatch.StartNew();
        for (var i = 0; i < ReadOnlyPasses; i++)
        {
            _fleet.RunAsync(recorder: null, readOnly: true).GetAwaiter().GetResult();
        }

        var readOnlyPerSecond = readRequests / reading.Elapsed.TotalSeconds;
        var readPerRequest = (double)Commands() / readRequests;
        Results[Describe(_store)] = new SessionResult(
            _latencies.Percentile(50), _latencies.Percentile(99), _writeLatencies.Percentile(50), mixedPerRequest, readPerRequest, processCpu, redisCpu, readOnlyPerSecond);
        _fleet.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _admin?.Dispose();
        _redis?.Dispose();
    }

    private void Setup(SessionStore store)
    {
        _store = store;
        _redis = RedisProcess.Start();
        var options = ConfigurationOptions.Parse(_redis.Endpoint);
        options.AllowAdmin = true;
        _admin = ConnectionMultiplexer.Connect(options);
        _fleet = SessionFleetHarness.StartAsync(store, _redis.Endpoint).GetAwaiter().GetResult();

        // Before anything is counted, every store runs the workload for a while: the app's code (ASP.NET Core, the store,
        // the Redis client) must be fully compiled by the tiered JIT, whichever store happens to run first in the process.
        var warming = Stopwatch.StartNew();
        do
        {
            _fleet.RunAsync(recorder: null).GetAwaiter().GetResult();
        }
        while (warming.Elapsed < WarmUp);

        ResetStats();
    }

    private async Task RunAsync()
    {
        await _fleet.RunAsync(_latencies, writes: _writeLatencies).ConfigureAwait(false);
        _ = Interlocked.Add(ref _requests, SessionFleetHarness.RequestsPerOperation);
    }

    private void ResetStats()
    {
        _requests = 0;
        _admin!.GetServers().Single().ConfigResetStatistics();
        _processCpuAtStart = ProcessCpu();
        _redisCpuAtStart = RedisCpuSeconds();
    }

    // CPU of this whole process: the three instances, the users' clients and the benchmark itself.
    private static TimeSpan ProcessCpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private double RedisCpuSeconds() => RedisServerStats.CpuSeconds(_admin!.GetServers().Single());

    private long Commands() => RedisServerStats.Commands(_admin!.GetServers().Single());

    private static string Describe(SessionStore store) => store switch
    {
        SessionStore.RedisCache => "RedisCache",
        SessionStore.Cachee => "Cachee",
        SessionStore.SharedMemoryDurableWrites => "ceiling + 1 Redis write per write (floor)",
        _ => "shared MemoryDistributedCache (ceiling)",
    };

    private sealed record SessionResult(
        double P50Microseconds, double P99Microseconds, double WriteP50Microseconds, double CommandsPerRequest, double CommandsPerReadOnlyRequest,
        double ProcessCpuMicroseconds, double RedisCpuMicroseconds, double ReadOnlyRequestsPerSecond);

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            _ = AddJob(OperationJob.InProcess(warmups: 20, iterations: 100));
            _ = AddColumn(
                new ResultColumn("Req/s", "Requests per second: 640 requests over the mean", (s, c) =>
                    (SessionFleetHarness.RequestsPerOperation / (s[c]!.ResultStatistics!.Mean / 1e9)).ToString("N0", CultureInfo.InvariantCulture)),
                new ResultColumn("Req p50", "Median single-request latency", (_, c) => Micro(For(c).P50Microseconds)),
                new ResultColumn("Req p99", "99th percentile single-request latency", (_, c) => Micro(For(c).P99Microseconds)),
                new ResultColumn("Write req p50", "Median latency of the requests that change the session", (_, c) => Micro(For(c).WriteP50Microseconds)),
                new ResultColumn("Redis cmds/req", "Redis commands per request, mixed workload (INFO commandstats)", (_, c) =>
                    For(c).CommandsPerRequest.ToString("N3", CultureInfo.InvariantCulture)),
                new ResultColumn("Redis cmds/read req", "Redis commands per request, read-only pass on warm instances", (_, c) =>
                    For(c).CommandsPerReadOnlyRequest.ToString("N3", CultureInfo.InvariantCulture)),
                new ResultColumn("Read-only req/s", $"Requests per second of the read-only pass ({ReadOnlyPasses} operations, one timing)", (_, c) =>
                    For(c).ReadOnlyRequestsPerSecond.ToString("N0", CultureInfo.InvariantCulture)),
                new ResultColumn("App CPU/req", "CPU time of the benchmark process (instances and users) per request, mixed workload", (_, c) =>
                    Micro(For(c).ProcessCpuMicroseconds)),
                new ResultColumn("Redis CPU/req", "CPU time of redis-server per request, mixed workload (INFO cpu)", (_, c) =>
                    Micro(For(c).RedisCpuMicroseconds)));
            _ = AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default);
        }

        private static SessionResult For(BenchmarkCase benchmarkCase) => Results[benchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\'')];

        private static string Micro(double microseconds) => $"{microseconds:N0} μs";
    }
}
