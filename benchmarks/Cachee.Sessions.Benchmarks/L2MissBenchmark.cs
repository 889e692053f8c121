using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// A read L1 cannot answer, on the same loopback redis-server: Microsoft's RedisCache against Cachee's L2 path
/// (Cachee with <c>L1MaxEntryBytes = 0</c>, so every read goes to Redis). 1 KB under a 40-character key, with a sliding
/// expiration (as sessions have: RedisCache reads and then renews, Cachee does both in one script) or an absolute one.
/// </summary>
[Config(typeof(MicroConfig))]
public class L2MissBenchmark
{
    private RedisProcess _redis = null!;
    private RedisCache _redisCache = null!;
    private TieredDistributedCache _cachee = null!;
    private string _key = null!;

    [Params("sliding", "absolute")]
    public string Expiration { get; set; } = "sliding";

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        _key = L1Fixtures.Key(1);
        var value = L1Fixtures.Value(1024);
        var options = Expiration == "sliding"
            ? new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) }
            : new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1) };
        _redisCache = new RedisCache(Options.Create(new RedisCacheOptions { Configuration = _redis.Endpoint, InstanceName = "rc:" }));
        _cachee = new TieredDistributedCache(Options.Create(new CacheeOptions
        {
            Configuration = _redis.Endpoint,
            InstanceName = "cachee:",
            L1MaxEntryBytes = 0,
        }));
        _redisCache.Set(_key, value, options);
        _cachee.Set(_key, value, options);
        L1Fixtures.Check(value, RedisCacheGet(), "RedisCache Get");
        L1Fixtures.Check(value, CacheeGet(), "Cachee Get");
        L1Fixtures.Check(value, RedisCacheGetAsync().GetAwaiter().GetResult(), "RedisCache GetAsync");
        L1Fixtures.Check(value, CacheeGetAsync().GetAwaiter().GetResult(), "Cachee GetAsync");
        if (_cachee.GetStatistics() is { L1Misses: not 2 } or { L2Hits: not 2 })
        {
            throw new InvalidOperationException("Cachee did not answer both reads from Redis.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cachee.Dispose();
        _redisCache.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "RedisCache Get")]
    public byte[]? RedisCacheGet() => _redisCache.Get(_key);

    [Benchmark(Description = "Cachee Get (L2 path)")]
    public byte[]? CacheeGet() => _cachee.Get(_key);

    [Benchmark(Description = "RedisCache GetAsync")]
    public Task<byte[]?> RedisCacheGetAsync() => _redisCache.GetAsync(_key);

    [Benchmark(Description = "Cachee GetAsync (L2 path)")]
    public Task<byte[]?> CacheeGetAsync() => _cachee.GetAsync(_key);
}
