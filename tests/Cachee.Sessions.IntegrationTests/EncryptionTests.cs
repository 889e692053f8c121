using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// <see cref="CacheeOptions.EncryptValues"/> on a real redis-server. Values cross instances encrypted, nothing
/// readable is left in Redis, keys rotate, and a payload that is tampered with, copied to another key, under a wrong or a
/// retired key, or plain where encryption is required is a logged, counted miss, never garbage or an exception.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class EncryptionTests(RedisServer redis)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private static readonly CacheeEncryptionKey First = NewKey("2026-10");
    private static readonly CacheeEncryptionKey Second = NewKey("2026-11");

    [Fact]
    public async Task ValuesCrossInstancesEncrypted_AndRedisHoldsNoPlaintext()
    {
        await using var instances = new Instances(redis);
        var writer = await instances.StartAsync(o => { Encrypting(o, First); o.CompressValues = true; });
        var reader = await instances.StartAsync(o => Encrypting(o, First));
        var secret = Encoding.UTF8.GetBytes("{\"user\":\"alice\",\"token\":\"SECRET-TOKEN-4242\"}");
        var large = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("SECRET-KEY-MATERIAL-", 20_000))); // 400 KB, compressible

        await writer.SetAsync("small", secret, Sliding);
        await writer.SetAsync("large", large, Sliding);
        Assert.Equal(secret, await reader.GetAsync("small"));
        Assert.Equal(large, await reader.GetAsync("large"));

        // A change on one instance reaches the other's copy, as without encryption.
        var changed = Encoding.UTF8.GetBytes("{\"user\":\"alice\",\"token\":\"SECRET-TOKEN-4343\"}");
        await reader.SetAsync("small", changed, Sliding);
        Assert.Equal(changed, await writer.GetAsync("small"));

        // Every byte Redis holds for the cache's keys: no trace of the values.
        var server = redis.Admin.GetServer(redis.Admin.GetEndPoints()[0]);
        var db = redis.Admin.GetDatabase();
        var scanned = 0;
        await foreach (var key in server.KeysAsync(pattern: instances.Prefix + "*"))
        {
            if (await db.KeyTypeAsync(key) != RedisType.Hash)
            {
                continue;
            }

            foreach (var field in await db.HashGetAllAsync(key))
            {
                scanned++;
                var bytes = (byte[])field.Value!;
                Assert.False(Contains(bytes, "SECRET"u8), $"{key} {field.Name} holds plaintext");
            }
        }

        Assert.True(scanned >= 8, $"only {scanned} fields scanned");
        Assert.Equal("aes256gcm", (string?)await db.HashGetAsync(instances.Prefix + "small", "enc"));
        Assert.Equal("lz4+aes256gcm", (string?)await db.HashGetAsync(instances.Prefix + "large", "enc"));
    }

    [Fact]
    public async Task KeyRotation_OldEntriesStayReadable_NewWritesUseTheNewKey()
    {
        await using var instances = new Instances(redis);
        var before = await instances.StartAsync(o => Encrypting(o, First));
        await before.SetAsync("old", "written under the first key"u8.ToArray(), Sliding);

        // The new key is added (and active: listed last) on the instances that write from now on.
        var rotated = await instances.StartAsync(o => Encrypting(o, First, Second));
        await rotated.SetAsync("new", "written under the second key"u8.ToArray(), Sliding);

        var db = redis.Admin.GetDatabase();
        Assert.Equal(First.Id, KeyIdOf((byte[])(await db.HashGetAsync(instances.Prefix + "old", "data"))!));
        Assert.Equal(Second.Id, KeyIdOf((byte[])(await db.HashGetAsync(instances.Prefix + "new", "data"))!));
        Assert.Equal("written under the first key"u8.ToArray(), await rotated.GetAsync("old"));
        Assert.Equal("written under the second key"u8.ToArray(), await rotated.GetAsync("new"));

        // A rewrite of an old entry moves it to the new key.
        await rotated.SetAsync("old", "rewritten"u8.ToArray(), Sliding);
        Assert.Equal(Second.Id, KeyIdOf((byte[])(await db.HashGetAsync(instances.Prefix + "old", "data"))!));

        // An explicit active key: a fleet that holds both keys can switch writes back and forth.
        var explicitFirst = await instances.StartAsync(o => { Encrypting(o, First, Second); o.EncryptionActiveKeyId = First.Id; });
        await explicitFirst.SetAsync("explicit", "x"u8.ToArray(), Sliding);
        Assert.Equal(First.Id, KeyIdOf((byte[])(await db.HashGetAsync(instances.Prefix + "explicit", "data"))!));
    }

    [Fact]
    public async Task TamperedMovedWrongKeyAndRetiredPayloads_AreLoggedMisses()
    {
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var instances = new Instances(redis.Endpoint, factory);
        var writer = await instances.StartAsync(o => Encrypting(o, First));
        var db = redis.Admin.GetDatabase();
        foreach (var name in new[] { "tampered", "source", "wrong-key", "retired" })
        {
            await writer.SetAsync(name, Encoding.UTF8.GetBytes("value of " + name), Sliding);
        }

        // A flipped bit in the ciphertext.
        var tampered = (byte[])(await db.HashGetAsync(instances.Prefix + "tampered", "data"))!;
        tampered[^1] ^= 0x01;
        await db.HashSetAsync(instances.Prefix + "tampered", "data", tampered);

        // A valid payload copied, whole entry, to another key.
        await db.HashSetAsync(instances.Prefix + "moved", await db.HashGetAllAsync(instances.Prefix + "source"));

        var reader = await instances.StartAsync(o => Encrypting(o, First));
        Assert.Null(await reader.GetAsync("tampered"));
        Assert.Null(await reader.GetAsync("moved"));
        Assert.Equal("value of source"u8.ToArray(), await reader.GetAsync("source"));
        Assert.Equal(2, reader.GetStatistics().UnreadablePayloads);

        // A key of the same id but other bytes, and a ring from which the key was retired.
        var wrongKey = await instances.StartAsync(o => Encrypting(o, NewKey(First.Id)));
        Assert.Null(await wrongKey.GetAsync("wrong-key"));
        var retired = await instances.StartAsync(o => Encrypting(o, Second));
        Assert.Null(await retired.GetAsync("retired"));
        Assert.Equal(1, wrongKey.GetStatistics().UnreadablePayloads);
        Assert.Equal(1, retired.GetStatistics().UnreadablePayloads);

        // An instance with no keys at all.
        var keyless = await instances.StartAsync();
        Assert.Null(await keyless.GetAsync("source"));
        Assert.Equal(1, keyless.GetStatistics().UnreadablePayloads);

        Assert.Contains(logs.Lines, line => line.Contains("does not authenticate", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, line => line.Contains($"encrypted under key '{First.Id}', which the key ring does not hold", StringComparison.Ordinal));
        Assert.Contains(logs.Lines, line => line.Contains("this instance has no encryption keys", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, line => line.Contains("value of", StringComparison.Ordinal) || line.Contains(First.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rollout_PlainAndEncryptedEntriesCoexist_UntilEncryptionIsRequired()
    {
        await using var instances = new Instances(redis);
        var plain = await instances.StartAsync();
        var canDecrypt = await instances.StartAsync(o => o.EncryptionKeys = [First]); // step 1: keys everywhere, writes still plain
        var encrypting = await instances.StartAsync(o => Encrypting(o, First));         // step 2: writes encrypted
        await plain.SetAsync("plain", "p"u8.ToArray(), Sliding);
        await canDecrypt.SetAsync("written-plain", "w"u8.ToArray(), Sliding);
        await encrypting.SetAsync("encrypted", "e"u8.ToArray(), Sliding);

        var db = redis.Admin.GetDatabase();
        Assert.False(await db.HashExistsAsync(instances.Prefix + "written-plain", "enc"));
        foreach (var reader in new[] { canDecrypt, encrypting })
        {
            Assert.Equal("p"u8.ToArray(), await reader.GetAsync("plain"));
            Assert.Equal("w"u8.ToArray(), await reader.GetAsync("written-plain"));
            Assert.Equal("e"u8.ToArray(), await reader.GetAsync("encrypted"));
        }

        // Step 3: plain entries are refused once encryption is required (nobody with write access to Redis can plant one).
        var requiring = await instances.StartAsync(o => { Encrypting(o, First); o.RequireEncryptedValues = true; });
        Assert.Null(await requiring.GetAsync("plain"));
        Assert.Equal("e"u8.ToArray(), await requiring.GetAsync("encrypted"));
        Assert.Equal(1, requiring.GetStatistics().UnreadablePayloads);
    }

    private static void Encrypting(CacheeOptions options, params CacheeEncryptionKey[] keys)
    {
        options.EncryptValues = true;
        options.EncryptionKeys = keys;
    }

    private static CacheeEncryptionKey NewKey(string id) => new() { Id = id, Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) };

    // The key id in an encrypted payload's header: [format][id length][id]...
    private static string KeyIdOf(byte[] payload) => Encoding.UTF8.GetString(payload, 2, payload[1]);

    private static bool Contains(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
