using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// Loading and saving one 2 MB session against a loopback redis-server, Cachee against RedisCache in the same
/// run. A load reads from Redis every time (Cachee's L1 copy is dropped first); a save writes a new version (Cachee: over a
/// large-value connection, uploaded then moved in by its script). Throughput is 2 MB divided by the mean.
/// </summary>
[Config(typeof(MicroConfig))]
public class LargeSessionTransferBenchmark
{
    private const int Bytes = 2 * 1024 * 1024;
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private RedisProcess _redis = null!;
    private RedisCache _redisCache = null!;
    private TieredDistributedCache _cachee = null!;
    private byte[] _value = [];

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        _value = L1Fixtures.Value(Bytes);
        _redisCache = new RedisCache(Options.Create(new RedisCacheOptions { Configuration = _redis.Endpoint, InstanceName = "r:" }));
        _cachee = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = "c:" }));
        L1Fixtures.StartAndWaitUntilSubscribed(_cachee);
        RedisCacheSave();
        CacheeSave();
        L1Fixtures.Check(_value, RedisCacheLoad(), "RedisCache load");
        L1Fixtures.Check(_value, CacheeLoad(), "Cachee load");
        L1Fixtures.Check(_value, CacheeLoad(), "Cachee load over the large-value connections");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachee.Dispose();
        _redisCache.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "RedisCache load 2 MB")]
    public byte[]? RedisCacheLoad() => _redisCache.Get("s");

    [Benchmark(Description = "Cachee load 2 MB")]
    public byte[]? CacheeLoad()
    {
        if (_cachee.L1.TryPeek("s", out var copy))
        {
            _cachee.L1.Remove("s", copy.Version);
        }

        return _cachee.Get("s");
    }

    [Benchmark(Description = "RedisCache save 2 MB")]
    public void RedisCacheSave() => _redisCache.Set("s", _value, Sliding);

    [Benchmark(Description = "Cachee save 2 MB")]
    public void CacheeSave() => _cachee.Set("s", _value, Sliding);
}
