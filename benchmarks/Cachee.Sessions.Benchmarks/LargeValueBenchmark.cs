using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Loading a 1 MB value from the same loopback redis-server: a raw StackExchange.Redis <c>HashGet</c> of the stored
/// bytes (the floor) against Cachee's L2 load, once without keeping the value in L1 and once keeping it (the copy is dropped
/// before each read so that every read loads). The Allocated column shows whether L1 adds a copy: it must not.
/// </summary>
[Config(typeof(MicroConfig))]
public class LargeValueBenchmark
{
    private const string Key = "large";
    private RedisProcess _redis = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _database = null!;
    private TieredDistributedCache _notKept = null!;
    private TieredDistributedCache _kept = null!;

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        var value = L1Fixtures.Value(1024 * 1024);
        _notKept = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = "c:", L1MaxEntryBytes = 0 }));
        _kept = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = "c:", L1MaxEntryBytes = 2 * 1024 * 1024 }));
        L1Fixtures.StartAndWaitUntilSubscribed(_kept);
        _notKept.Set(Key, value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        _raw = ConnectionMultiplexer.Connect(_redis.Endpoint);
        _database = _raw.GetDatabase();
        L1Fixtures.Check(value, RawHashGet(), "HashGet");
        L1Fixtures.Check(value, CacheeLoad(), "Cachee Get");
        var loaded = CacheeLoadKeptInL1();
        L1Fixtures.Check(value, loaded, "Cachee Get kept in L1");
        if (!_kept.L1.TryPeek(Key, out var copy) || !ReferenceEquals(copy.Value, loaded))
        {
            throw new InvalidOperationException("L1 holds another array than the one the read returned.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _notKept.Dispose();
        _kept.Dispose();
        _raw.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw HashGet of the bytes")]
    public byte[]? RawHashGet() => (byte[]?)_database.HashGet("c:" + Key, "data");

    [Benchmark(Description = "Cachee Get, L2 load")]
    public byte[]? CacheeLoad() => _notKept.Get(Key);

    [Benchmark(Description = "Cachee Get, L2 load kept in L1")]
    public byte[]? CacheeLoadKeptInL1()
    {
        if (_kept.L1.TryPeek(Key, out var copy))
        {
            _kept.L1.Remove(Key, copy.Version);
        }

        return _kept.Get(Key);
    }
}
