using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Values of at least <see cref="CacheeOptions.LargeValueThreshold"/> on a real redis-server: they travel on the large-value
/// connections, reach the entry without passing through Lua, and keep every guarantee small values have (versions,
/// invalidation, RedisCache's format), while small reads on the same instance go on beside them.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class LargeValueTests(RedisServer redis)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task LargeWritesAndManySmallReads_Concurrently_EveryReadSeesTheRightValue()
    {
        await using var instances = new Instances(redis);
        var writer = await instances.StartAsync(o => o.L1MaxEntryBytes = 4 * 1024 * 1024);
        var reader = await instances.StartAsync(o => o.L1MaxEntryBytes = 4 * 1024 * 1024);
        var small = Enumerable.Range(0, 64).Select(i => BitConverter.GetBytes(i * 7919)).ToArray();
        for (var i = 0; i < small.Length; i++)
        {
            await writer.SetAsync($"small{i}", small[i], Sliding);
        }

        var large = Enumerable.Range(0, 2).Select(seed => Bytes(2 * 1024 * 1024, seed)).ToArray();
        using var stop = new CancellationTokenSource();
        var largeRounds = 0;
        var moving = Task.Run(async () =>
        {
            for (var round = 0; !stop.IsCancellationRequested || round < 10; round++)
            {
                await writer.SetAsync("big", large[round % 2], Sliding);
                var seen = await reader.GetAsync("big");
                Assert.True(seen.AsSpan().SequenceEqual(large[round % 2]), $"round {round}: the reader saw another large value");
                largeRounds++;
            }
        });

        // Small reads on the instance that moves large values, each from Redis (its copy dropped first), meanwhile.
        for (var i = 0; i < 2_000; i++)
        {
            var key = $"small{i % small.Length}";
            if (reader.L1.TryPeek(key, out var copy))
            {
                reader.L1.Remove(key, copy.Version);
            }

            Assert.Equal(small[i % small.Length], await reader.GetAsync(key));
        }

        await stop.CancelAsync();
        await moving;
        Assert.True(largeRounds >= 10);
        Assert.Equal(0, writer.GetStatistics().AckTimeouts);

        // The large values went over connections of their own, never through a script's arguments.
        var clients = (string)(await redis.Admin.GetServers()[0].ExecuteAsync("CLIENT", "LIST"))!;
        var largeConnections = clients.Split('\n').Where(line => line.Contains($"name=cachee-{reader.InstanceId}-large ", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(largeConnections);
        Assert.Contains(largeConnections, line => line.Contains("cmd=hmget", StringComparison.Ordinal) || line.Contains("cmd=pttl", StringComparison.Ordinal) || line.Contains("cmd=evalsha", StringComparison.Ordinal));
        Assert.Empty(await StagedKeysAsync(instances.Prefix));
    }

    [Fact]
    public async Task ALargeValue_IsInvalidatedEverywhere_AndServedFromL1WhereItWasRead()
    {
        await using var instances = new Instances(redis);
        var caches = new[]
        {
            await instances.StartAsync(o => o.L1MaxEntryBytes = 4 * 1024 * 1024),
            await instances.StartAsync(o => o.L1MaxEntryBytes = 4 * 1024 * 1024),
            await instances.StartAsync(o => o.L1MaxEntryBytes = 4 * 1024 * 1024),
        };
        for (var round = 0; round < 6; round++)
        {
            var value = Bytes(350 * 1024 + round, round);
            await caches[round % 3].SetAsync("session", value, Sliding);
            foreach (var cache in caches)
            {
                Assert.Equal(value, await cache.GetAsync("session"));
            }

            // A reader holds the copy it loaded and serves it again without Redis.
            var reader = caches[(round + 1) % 3];
            var l2Reads = reader.GetStatistics().L2Hits;
            Assert.Equal(value, await reader.GetAsync("session"));
            Assert.Equal(l2Reads, reader.GetStatistics().L2Hits);
        }

        Assert.Equal(0, caches.Sum(cache => cache.GetStatistics().AckTimeouts));
        await caches[0].RemoveAsync("session");
        foreach (var cache in caches)
        {
            Assert.Null(await cache.GetAsync("session"));
        }
    }

    [Fact]
    public async Task ALargeEntry_KeepsRedisCachesFormat_BothWays()
    {
        await using var instances = new Instances(redis);
        var cachee = await instances.StartAsync();
        var redisCache = instances.CreateRedisCache();
        var written = Bytes(1024 * 1024, 1);
        await cachee.SetAsync("by-cachee", written, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
        Assert.Equal(written, await redisCache.GetAsync("by-cachee"));
        var ttl = await redis.Admin.GetDatabase().KeyTimeToLiveAsync(instances.Prefix + "by-cachee");
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

        var other = Bytes(1024 * 1024, 2);
        await redisCache.SetAsync("by-cachee", other, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
        await Eventually.TrueAsync(() => !cachee.L1.TryPeek("by-cachee", out _), "RedisCache's write is revoked");
        Assert.Equal(other, await cachee.GetAsync("by-cachee"));
        Assert.Empty(await StagedKeysAsync(instances.Prefix));
    }

    [Fact]
    public async Task AValueThatShrinks_IsReadOverTheSharedConnectionAgain_AndStaysCorrect()
    {
        await using var instances = new Instances(redis);
        var writer = await instances.StartAsync();
        var reader = await instances.StartAsync();
        await writer.SetAsync("k", Bytes(200 * 1024, 1), Sliding);
        Assert.Equal(200 * 1024, (await reader.GetAsync("k"))!.Length);
        await writer.SetAsync("k", [1, 2, 3], Sliding);
        await Eventually.TrueAsync(() => reader.Get("k") is [1, 2, 3], "the reader sees the small value");
        await writer.SetAsync("k", Bytes(200 * 1024, 2), Sliding);
        await Eventually.TrueAsync(() => reader.Get("k") is { Length: 200 * 1024 } seen && seen[0] == Bytes(200 * 1024, 2)[0], "the reader sees the large value again");
    }

    private async Task<RedisKey[]> StagedKeysAsync(string prefix) =>
        await redis.Admin.GetServers()[0].KeysAsync(pattern: prefix + "*:staged:*").ToArrayAsync();

    private static byte[] Bytes(int length, int seed)
    {
        var value = new byte[length];
        new Random(seed).NextBytes(value);
        value[0] = (byte)seed;
        return value;
    }
}
