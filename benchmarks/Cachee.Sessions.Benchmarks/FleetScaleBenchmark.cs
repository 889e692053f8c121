using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// What a fleet of N instances costs Redis per request. 64 sessions of 2 KB on one loopback Redis; each request
/// goes to a random instance (as a round-robin balancer would send one user's requests) and to a random session, one request
/// at a time, so every read must see the last write. Two workloads: <see cref="FleetWorkload.GetSet"/>, an application using
/// the cache directly (a request reads with <c>GetAsync</c> or writes with <c>SetAsync</c>), and
/// <see cref="FleetWorkload.GetRefresh"/>, what the session middleware sends (<c>GetAsync</c>, then <c>RefreshAsync</c> when
/// the session did not change or <c>SetAsync</c> when it did). Writes use a 20-minute sliding window. One operation is
/// <see cref="RequestsPerOperation"/> requests. Columns: Redis commands and Redis CPU per request (<c>INFO commandstats</c>,
/// <c>INFO cpu</c>), read request and <c>SetAsync</c> p50/p99, and reads that returned anything but the last value written
/// (stale reads).
/// </summary>
[Config(typeof(Config))]
public class FleetScaleBenchmark
{
    private const int RequestsPerOperation = 2_000;
    private const int Sessions = 64;
    private const int SessionBytes = 2 * 1024;
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private static readonly ConcurrentDictionary<string, FleetResult> Results = new();
    private readonly LatencyRecorder _reads = new();
    private readonly LatencyRecorder _writes = new();
    private readonly Random _random = new(16);
    private readonly byte[][] _lastWritten = new byte[Sessions][];
    private RedisProcess? _redis;
    private ConnectionMultiplexer? _admin;
    private List<IDistributedCache> _fleet = [];
    private long _requests;
    private long _staleReads;
    private double _redisCpuAtStart;

    /// <summary>Instances in the fleet.</summary>
    [Params(2, 8, 32)]
    public int Instances { get; set; }

    /// <summary>Share of requests that change the session, in percent.</summary>
    [Params(1, 10, 33)]
    public int WritePercent { get; set; }

    /// <summary>What a request sends.</summary>
    [ParamsAllValues]
    public FleetWorkload Workload { get; set; }

    [GlobalSetup(Target = nameof(RedisCache))]
    public void SetupRedisCache() => Setup(prefix => new RedisCache(Options.Create(new RedisCacheOptions { Configuration = _redis!.Endpoint, InstanceName = prefix })));

    [GlobalSetup(Target = nameof(Cachee))]
    public void SetupCachee() => Setup(prefix =>
    {
        var cache = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis!.Endpoint, InstanceName = prefix, HoldOnlyPayingCopies = true }));
        cache.Coordinator.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var started = Stopwatch.StartNew();
        while (!cache.Coordinator.IsSubscribed && started.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Yield();
        }

        return cache;
    });

    [Benchmark(Baseline = true, Description = "RedisCache")]
    public Task RedisCache() => RunAsync();

    [Benchmark(Description = "Cachee")]
    public Task Cachee() => RunAsync();

    [GlobalCleanup]
    public void Cleanup()
    {
        var commands = Commands();
        var redisCpu = (RedisCpuSeconds() - _redisCpuAtStart) * 1e6;
        var perCommand = RedisServerStats.PerCommand(_admin!.GetServers().Single()).OrderByDescending(command => command.Microseconds).Take(10);
        Console.WriteLine($"// Redis commands of {Describe()}, per request (calls, µs): " + string.Join(", ", perCommand.Select(command =>
            string.Create(CultureInfo.InvariantCulture, $"{command.Name} {(double)command.Calls / _requests:N2} {(double)command.Microseconds / _requests:N1}"))));
        Results[Describe()] = new FleetResult(
            (double)commands / _requests, redisCpu / _requests, _reads.Percentile(50), _reads.Percentile(99),
            _writes.Percentile(50), _writes.Percentile(99), _staleReads);
        foreach (var cache in _fleet)
        {
            (cache as IDisposable)?.Dispose();
        }

        _admin?.Dispose();
        _redis?.Dispose();
    }

    private string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{_fleet.FirstOrDefault()?.GetType().Name}|{Instances}|{WritePercent}|{Workload}");

    private void Setup(Func<string, IDistributedCache> create)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        _ = ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
        _redis = RedisProcess.Start();
        var options = ConfigurationOptions.Parse(_redis.Endpoint);
        options.AllowAdmin = true;
        _admin = ConnectionMultiplexer.Connect(options);
        var prefix = $"fleet-{Guid.NewGuid():N}:";
        _fleet = [.. Enumerable.Range(0, Instances).Select(_ => create(prefix))];
        for (var session = 0; session < Sessions; session++)
        {
            _lastWritten[session] = Payload();
            _fleet[0].Set(Key(session), _lastWritten[session], Sliding);
        }

        // Warm the code and every instance's copies before anything is counted.
        var warming = Stopwatch.StartNew();
        while (warming.Elapsed < TimeSpan.FromSeconds(5))
        {
            RunAsync().GetAwaiter().GetResult();
        }

        _requests = 0;
        _staleReads = 0;
        _admin.GetServers().Single().ConfigResetStatistics();
        _redisCpuAtStart = RedisCpuSeconds();
    }

    private async Task RunAsync()
    {
        for (var i = 0; i < RequestsPerOperation; i++)
        {
            var cache = _fleet[_random.Next(_fleet.Count)];
            var session = _random.Next(Sessions);
            var started = Stopwatch.GetTimestamp();
            var writes = _random.Next(100) < WritePercent;
            if (!writes || Workload == FleetWorkload.GetRefresh)
            {
                var value = await cache.GetAsync(Key(session)).ConfigureAwait(false);
                if (value is null || !value.AsSpan().SequenceEqual(_lastWritten[session]))
                {
                    _staleReads++;
                }
            }

            if (!writes)
            {
                if (Workload == FleetWorkload.GetRefresh)
                {
                    await cache.RefreshAsync(Key(session)).ConfigureAwait(false);
                }

                _reads.Record(Stopwatch.GetElapsedTime(started));
            }
            else
            {
                var value = Payload();
                var writeStarted = Stopwatch.GetTimestamp();
                await cache.SetAsync(Key(session), value, Sliding).ConfigureAwait(false);
                _writes.Record(Stopwatch.GetElapsedTime(writeStarted));
                _lastWritten[session] = value;
            }
        }

        _requests += RequestsPerOperation;
    }

    private byte[] Payload()
    {
        var value = new byte[SessionBytes];
        _random.NextBytes(value);
        return value;
    }

    private static string Key(int session) => $"session-{session:D3}-7f4b0c2e9a8d4e1f";

    private double RedisCpuSeconds() => RedisServerStats.CpuSeconds(_admin!.GetServers().Single());

    private long Commands() => RedisServerStats.Commands(_admin!.GetServers().Single());

    private sealed record FleetResult(
        double CommandsPerRequest, double RedisCpuMicroseconds, double ReadP50, double ReadP99, double WriteP50, double WriteP99, long StaleReads);

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            _ = AddJob(OperationJob.InProcess(warmups: 2, iterations: 8));
            _ = AddColumn(
                new ResultColumn("Redis cmds/req", "Redis commands per request (INFO commandstats)", (_, c) => For(c).CommandsPerRequest.ToString("N2", CultureInfo.InvariantCulture)),
                new ResultColumn("Redis CPU/req", "CPU time of redis-server per request (INFO cpu)", (_, c) => Micro(For(c).RedisCpuMicroseconds)),
                new ResultColumn("Read p50", "Median request that does not write (GetAsync, and RefreshAsync in GetRefresh)", (_, c) => Micro(For(c).ReadP50)),
                new ResultColumn("Read p99", "99th percentile request that does not write", (_, c) => Micro(For(c).ReadP99)),
                new ResultColumn("Write p50", "Median SetAsync", (_, c) => Micro(For(c).WriteP50)),
                new ResultColumn("Write p99", "99th percentile SetAsync", (_, c) => Micro(For(c).WriteP99)),
                new ResultColumn("Stale reads", "Reads that did not return the last value written", (_, c) => For(c).StaleReads.ToString(CultureInfo.InvariantCulture)));
        }

        private static FleetResult For(BenchmarkCase benchmarkCase)
        {
            var store = benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(Cachee) ? nameof(TieredDistributedCache) : nameof(Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache);
            var instances = benchmarkCase.Parameters["Instances"];
            var writes = benchmarkCase.Parameters["WritePercent"];
            var workload = benchmarkCase.Parameters["Workload"];
            return Results[string.Create(CultureInfo.InvariantCulture, $"{store}|{instances}|{writes}|{workload}")];
        }

        private static string Micro(double microseconds) => $"{microseconds:N1} μs";
    }
}

/// <summary>What a request of <see cref="FleetScaleBenchmark"/> sends.</summary>
public enum FleetWorkload
{
    /// <summary><c>GetAsync</c> to read, <c>SetAsync</c> to write: an application using the cache directly.</summary>
    GetSet,

    /// <summary><c>GetAsync</c>, then <c>RefreshAsync</c> or, on writes, <c>SetAsync</c>: what the session middleware sends.</summary>
    GetRefresh,
}
