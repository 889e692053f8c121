using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// <see cref="CacheeOptions.CompressValues"/> on a real redis-server: what compresses is stored smaller and marked, what does
/// not stays plain, every instance reads both whatever its own setting (a rollout), and a corrupt compressed payload is a
/// logged, counted miss.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class CompressionTests(RedisServer redis)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task CompressedAndPlainEntries_AreReadByInstancesWithAndWithoutCompression()
    {
        await using var instances = new Instances(redis);
        var compressing = await instances.StartAsync(o => o.CompressValues = true);
        var plain = await instances.StartAsync();
        var json = JsonLike(300 * 1024);
        var random = RandomBytes(64 * 1024);

        // Written compressed where that pays (and marked), plain where it does not.
        await compressing.SetAsync("json", json, Sliding);
        await compressing.SetAsync("random", random, Sliding);
        var db = redis.Admin.GetDatabase();
        var stored = (byte[])(await db.HashGetAsync(instances.Prefix + "json", "data"))!;
        Assert.True(stored.Length < json.Length / 2, $"{json.Length} bytes stored as {stored.Length}");
        Assert.Equal("lz4", (string?)await db.HashGetAsync(instances.Prefix + "json", "enc"));
        Assert.Equal(random, (byte[]?)await db.HashGetAsync(instances.Prefix + "random", "data"));
        Assert.False(await db.HashExistsAsync(instances.Prefix + "random", "enc"));

        // Both read everywhere, compression on or off.
        foreach (var cache in new[] { compressing, plain })
        {
            Assert.Equal(json, await cache.GetAsync("json"));
            Assert.Equal(random, await cache.GetAsync("random"));
        }

        // An entry written plain (by an instance without compression) is read by one with it; a plain rewrite drops the mark.
        await plain.SetAsync("json", json, Sliding);
        Assert.False(await db.HashExistsAsync(instances.Prefix + "json", "enc"));
        await Eventually.TrueAsync(() => compressing.Get("json") is { } seen && seen.AsSpan().SequenceEqual(json), "the plain rewrite is read");

        // Small values are never compressed.
        await compressing.SetAsync("small", "hello"u8.ToArray(), Sliding);
        Assert.False(await db.HashExistsAsync(instances.Prefix + "small", "enc"));
        Assert.Equal("hello"u8.ToArray(), await plain.GetAsync("small"));
    }

    [Fact]
    public async Task ACorruptCompressedPayload_IsALoggedMiss()
    {
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var instances = new Instances(redis.Endpoint, factory);
        var cache = await instances.StartAsync(o => o.CompressValues = true);
        await cache.SetAsync("session", JsonLike(64 * 1024), Sliding);
        var db = redis.Admin.GetDatabase();
        var stored = (byte[])(await db.HashGetAsync(instances.Prefix + "session", "data"))!;
        stored[^10] ^= 0xFF;
        Array.Resize(ref stored, stored.Length / 2);
        await db.HashSetAsync(instances.Prefix + "session", "data", stored);
        await Eventually.TrueAsync(() => !cache.L1.TryPeek("session", out _), "the change is revoked");

        Assert.Null(await cache.GetAsync("session"));
        Assert.Equal(1, cache.GetStatistics().UnreadablePayloads);
        Assert.Contains(logs.Lines, line => line.Contains("decompress", StringComparison.Ordinal));

        // An encoding this version does not know is a miss too, not garbage.
        await db.HashSetAsync(instances.Prefix + "other", [new("absexp", "-1"), new("sldexp", "-1"), new("data", "x"), new("enc", "zstd")]);
        Assert.Null(await cache.GetAsync("other"));
        Assert.Equal(2, cache.GetStatistics().UnreadablePayloads);
    }

    // Session-like JSON: repeated field names, numbers and words, as serialised shopping carts and claims look.
    private static byte[] JsonLike(int length)
    {
        var random = new Random(42);
        string[] words = ["alice", "checkout", "sku", "quantity", "price", "currency", "EUR", "claims", "role", "admin", "cart", "item"];
        var text = new StringBuilder("{\"items\":[");
        while (text.Length < length)
        {
            text.Append("{\"").Append(words[random.Next(words.Length)]).Append("\":\"").Append(words[random.Next(words.Length)])
                .Append("\",\"id\":").Append(random.Next(1_000_000)).Append(",\"price\":").Append(random.Next(10_000) / 100.0)
                .Append("},");
        }

        return Encoding.UTF8.GetBytes(text.ToString(0, length));
    }

    private static byte[] RandomBytes(int length)
    {
        var value = new byte[length];
        new Random(7).NextBytes(value);
        return value;
    }
}
