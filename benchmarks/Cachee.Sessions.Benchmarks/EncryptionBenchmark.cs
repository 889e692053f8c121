using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Cachee.Sessions.Payload;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// What <see cref="CacheeOptions.EncryptValues"/> costs per request. A load reads the session from Redis (the L1
/// copy is dropped first: an L1 hit decrypts nothing) and a save writes a new version, for a plain and an encrypting
/// instance in the same run against one loopback redis-server; and AES-256-GCM alone (seal, open) on the same value.
/// </summary>
[Config(typeof(MicroConfig))]
public class EncryptionBenchmark
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private RedisProcess _redis = null!;
    private TieredDistributedCache _plain = null!;
    private TieredDistributedCache _encrypting = null!;
    private PayloadEncryption _encryption = null!;
    private byte[] _value = [];
    private byte[] _sealed = [];

    [Params(1024, 1024 * 1024)]
    public int Bytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _redis = RedisProcess.Start();
        _value = L1Fixtures.Value(Bytes);
        var key = new CacheeEncryptionKey { Id = "bench", Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };
        _plain = new TieredDistributedCache(Options.Create(new CacheeOptions { Configuration = _redis.Endpoint, InstanceName = "p:" }));
        _encrypting = new TieredDistributedCache(Options.Create(new CacheeOptions
        {
            Configuration = _redis.Endpoint, InstanceName = "e:", EncryptValues = true, EncryptionKeys = [key],
        }));
        L1Fixtures.StartAndWaitUntilSubscribed(_plain);
        L1Fixtures.StartAndWaitUntilSubscribed(_encrypting);
        _encryption = new PayloadEncryption(new ConfiguredKeyRing([key], null));
        _sealed = _encryption.Seal(_value, "e:s", PayloadEncryption.Marker);
        PlainSave();
        EncryptedSave();
        L1Fixtures.Check(_value, PlainLoad(), "plain load");
        L1Fixtures.Check(_value, EncryptedLoad(), "encrypted load");
        L1Fixtures.Check(_value, Open(), "open");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plain.Dispose();
        _encrypting.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "plain load")]
    public byte[]? PlainLoad() => Load(_plain);

    [Benchmark(Description = "encrypted load")]
    public byte[]? EncryptedLoad() => Load(_encrypting);

    [Benchmark(Description = "plain save")]
    public void PlainSave() => _plain.Set("s", _value, Sliding);

    [Benchmark(Description = "encrypted save")]
    public void EncryptedSave() => _encrypting.Set("s", _value, Sliding);

    [Benchmark(Description = "AES-256-GCM seal only")]
    public byte[] Seal() => _encryption.Seal(_value, "e:s", PayloadEncryption.Marker);

    [Benchmark(Description = "AES-256-GCM open only")]
    public byte[] Open() => _encryption.Open(_sealed, "e:s", PayloadEncryption.Marker);

    private static byte[]? Load(TieredDistributedCache cache)
    {
        if (cache.L1.TryPeek("s", out var copy))
        {
            cache.L1.Remove("s", copy.Version);
        }

        return cache.Get("s");
    }
}
