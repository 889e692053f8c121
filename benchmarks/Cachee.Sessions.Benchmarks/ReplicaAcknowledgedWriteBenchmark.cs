using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// What <see cref="CacheeOptions.MinReplicasToAcknowledge"/> costs a write. A loopback master with one replica,
/// 2 KB session values with a sliding window; RedisCache (no replica acknowledgement) as the baseline, Cachee without it and
/// with one replica to confirm each write (its script and its WAIT on a leased connection of its own).
/// </summary>
[Config(typeof(MicroConfig))]
public class ReplicaAcknowledgedWriteBenchmark
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private RedisProcess _master = null!;
    private RedisProcess _replica = null!;
    private RedisCache _redisCache = null!;
    private TieredDistributedCache _cachee = null!;
    private TieredDistributedCache _acknowledged = null!;
    private byte[] _value = null!;
    private string _key = null!;

    [GlobalSetup]
    public void Setup()
    {
        _master = RedisProcess.Start();
        _replica = RedisProcess.StartReplicaOf(_master);
        _key = L1Fixtures.Key(1);
        _value = L1Fixtures.Value(2048);
        _redisCache = new RedisCache(Options.Create(new RedisCacheOptions { Configuration = _master.Endpoint, InstanceName = "rc:" }));
        _cachee = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _master.Endpoint, InstanceName = "plain:" }));
        _acknowledged = new TieredDistributedCache(Options.Create(new CacheeOptions
        {
            Configuration = _master.Endpoint,
            InstanceName = "acknowledged:",
            MinReplicasToAcknowledge = 1,
        }));
        RedisCacheSet();
        CacheeSet();
        CacheeSetAcknowledged();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _acknowledged.Dispose();
        _cachee.Dispose();
        _redisCache.Dispose();
        _replica.Dispose();
        _master.Dispose();
    }

    [Benchmark(Baseline = true, Description = "RedisCache Set")]
    public void RedisCacheSet() => _redisCache.Set(_key, _value, Sliding);

    [Benchmark(Description = "Cachee Set")]
    public void CacheeSet() => _cachee.Set(_key, _value, Sliding);

    [Benchmark(Description = "Cachee Set, MinReplicasToAcknowledge = 1")]
    public void CacheeSetAcknowledged() => _acknowledged.Set(_key, _value, Sliding);
}
