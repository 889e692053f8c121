using System.Buffers;
using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>The IDistributedCache contract against a real Redis.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisContractTests(RedisServer redis) : IAsyncLifetime
{
    private readonly Instances _instances = new(redis);
    private TieredDistributedCache _cache = null!;

    public async Task InitializeAsync() => _cache = await _instances.StartAsync();

    public async Task DisposeAsync() => await _instances.DisposeAsync();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FirstCallOfAFreshCache_IsABlockingWriteOfALargeValue(bool largeValue)
    {
        // Nothing has connected yet: the blocking Set connects, measures Redis' clock and writes.
        var cache = _instances.Create(); // disposed with the other instances
        var value = new byte[largeValue ? 1024 * 1024 : 16];
        value[^1] = 7;
        cache.Set("first", value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        Assert.Equal(value, cache.Get("first"));
    }

    [Fact]
    public async Task MissingKey_IsNull()
    {
        Assert.Null(_cache.Get("absent"));
        Assert.Null(await _cache.GetAsync("absent"));
        Assert.False(await _cache.TryGetAsync("absent", new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public async Task ForeignOrCorruptPayloads_AreCountedMisses()
    {
        var database = redis.Admin.GetDatabase();
        _ = await database.StringSetAsync(_instances.Prefix + "a-string", "not a hash");
        await database.HashSetAsync(_instances.Prefix + "no-data", [new("absexp", "-1"), new("sldexp", "-1")]);
        await database.HashSetAsync(_instances.Prefix + "bad-expiry", [new("absexp", "soon"), new("sldexp", "-1"), new("data", "x")]);

        Assert.Null(await _cache.GetAsync("a-string"));
        Assert.Null(_cache.Get("bad-expiry"));
        Assert.Null(await _cache.GetAsync("no-data")); // RedisCache's reading too: no data field, no entry
        Assert.Equal(2, _cache.GetStatistics().UnreadablePayloads);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(5 * 1024 * 1024)]
    public async Task Values_RoundTrip(int length)
    {
        var value = new byte[length];
        Random.Shared.NextBytes(value);
        _cache.Set("sync", value, new DistributedCacheEntryOptions());
        await _cache.SetAsync("async", value, new DistributedCacheEntryOptions());

        using var other = _instances.Create();
        Assert.Equal(value, other.Get("sync"));
        Assert.Equal(value, await other.GetAsync("async"));
        Assert.Equal(value, await _cache.GetAsync("async"));
    }

    [Fact]
    public async Task KeysAreCaseSensitive_OverwriteAndRemoveWork()
    {
        await _cache.SetAsync("K", [1], new DistributedCacheEntryOptions());
        await _cache.SetAsync("k", [2], new DistributedCacheEntryOptions());
        await _cache.SetAsync("k", [3], new DistributedCacheEntryOptions());
        Assert.Equal([1], await _cache.GetAsync("K"));
        Assert.Equal([3], await _cache.GetAsync("k"));
        await _cache.RemoveAsync("K");
        _cache.Remove("k");
        Assert.Null(await _cache.GetAsync("K"));
        Assert.Null(_cache.Get("k"));
        Assert.False(await redis.Admin.GetDatabase().KeyExistsAsync(_instances.Prefix + "k"));
    }

    [Fact]
    public async Task AbsoluteExpirationInThePast_Throws()
    {
        var options = new DistributedCacheEntryOptions { AbsoluteExpiration = DateTimeOffset.UtcNow.AddMinutes(-1) };
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _cache.SetAsync("k", [1], options));
        Assert.False(await redis.Admin.GetDatabase().KeyExistsAsync(_instances.Prefix + "k"));
    }

    [Fact]
    public async Task RelativeExpiration_RemovesTheEntryFromBothTiers()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMilliseconds(1500) });
        Assert.Equal([1], await _cache.GetAsync("k"));
        var ttl = await redis.Admin.GetDatabase().KeyTimeToLiveAsync(_instances.Prefix + "k");
        Assert.InRange(ttl!.Value.TotalMilliseconds, 1, 1500);
        await Eventually.TrueAsync(() => _cache.Get("k") is null, "the entry expires");
        Assert.False(await redis.Admin.GetDatabase().KeyExistsAsync(_instances.Prefix + "k"));
    }

    [Fact]
    public async Task SlidingEntryReadFromL1_IsKeptAliveInRedis()
    {
        // A 1.5 s window with a 100 ms tolerance, read from L1 for 4 s: without background renewals Redis would drop it.
        await using var cache = await _instances.StartAsync(o => o.SlidingRefreshTolerance = TimeSpan.FromMilliseconds(100));
        await cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMilliseconds(1500) });
        var until = DateTime.UtcNow.AddSeconds(4);
        while (DateTime.UtcNow < until)
        {
            Assert.Equal([1], await cache.GetAsync("s"));
            await Task.Yield();
        }

        var stats = cache.GetStatistics();
        Assert.True(stats.L2Refreshes > 0, "renewals were sent");
        Assert.True(stats.L1Hits > 100 * stats.L1Misses, $"{stats.L1Hits} L1 hits against {stats.L1Misses} misses");
        Assert.True(await redis.Admin.GetDatabase().KeyExistsAsync(_instances.Prefix + "s"));
    }

    [Fact]
    public async Task SlidingEntry_ExpiresWhenIdle()
    {
        await _cache.SetAsync("s", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromSeconds(1) });
        Assert.Equal([1], await _cache.GetAsync("s"));
        await Eventually.TrueAsync(() => !redis.Admin.GetDatabase().KeyExists(_instances.Prefix + "s"), "Redis expires the idle entry");
        Assert.Null(await _cache.GetAsync("s"));
    }

    [Fact]
    public async Task UnreadablePayload_IsALoggedMiss()
    {
        await redis.Admin.GetDatabase().HashSetAsync(_instances.Prefix + "bad", [new("absexp", "yesterday"), new("sldexp", "-1"), new("data", "x")]);
        Assert.Null(await _cache.GetAsync("bad"));
        Assert.Equal(1, _cache.GetStatistics().UnreadablePayloads);
    }

    [Fact]
    public async Task WithoutHostedService_FirstUseStartsTheSubscription()
    {
        await using var cache = _instances.Create();
        await cache.SetAsync("k", [1], new DistributedCacheEntryOptions());
        await Eventually.TrueAsync(() => cache.Coordinator.IsSubscribed, "first use starts the subscription");
        _ = await cache.GetAsync("k");
        Assert.Equal([1], await cache.GetAsync("k"));
        Assert.True(cache.GetStatistics().L1Hits >= 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASlidingEntryReadFromRedis_IsRenewedWhenItsTtlFellBeyondTheTolerance_AndKeptInL1(bool sync)
    {
        var value = new byte[1024 * 1024];
        new Random(1).NextBytes(value);
        await _cache.SetAsync("big", value, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        var database = redis.Admin.GetDatabase();
        _ = await database.KeyExpireAsync(_instances.Prefix + "big", TimeSpan.FromMinutes(1));
        var other = await _instances.StartAsync();

        Assert.Equal(value, sync ? other.Get("big") : await other.GetAsync("big"));
        Assert.True(await database.KeyTimeToLiveAsync(_instances.Prefix + "big") > TimeSpan.FromMinutes(19), "the read renewed the sliding entry");
        Assert.Equal(value, sync ? other.Get("big") : await other.GetAsync("big"));
        Assert.Equal((1, 1), (other.GetStatistics().L2Hits, other.GetStatistics().L1Hits));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASlidingEntryReadFromRedisWithinTheTolerance_IsNotRenewed_AndKeptInL1(bool sync)
    {
        // The default tolerance of a 20-minute window is 2% of it, 24 s: an entry 10 s short of its window needs no renewal.
        await _cache.SetAsync("s", [1, 2], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(20) });
        var database = redis.Admin.GetDatabase();
        var shortened = TimeSpan.FromMinutes(20) - TimeSpan.FromSeconds(10);
        _ = await database.KeyExpireAsync(_instances.Prefix + "s", shortened);
        var other = await _instances.StartAsync();

        Assert.Equal([1, 2], sync ? other.Get("s") : await other.GetAsync("s"));
        Assert.True(await database.KeyTimeToLiveAsync(_instances.Prefix + "s") <= shortened, "the read left the entry's expiry alone");
        Assert.Equal([1, 2], sync ? other.Get("s") : await other.GetAsync("s"));
        Assert.Equal((1, 1), (other.GetStatistics().L2Hits, other.GetStatistics().L1Hits));
    }

    [Fact]
    public async Task ScriptsForgottenByRedis_AreSentAgain()
    {
        await _cache.SetAsync("k", [1], new DistributedCacheEntryOptions());
        foreach (var server in redis.Admin.GetServers())
        {
            await server.ScriptFlushAsync(); // as after a restart or a failover to a fresh replica
        }

        await _cache.SetAsync("k", [2], new DistributedCacheEntryOptions());
        await using var other = _instances.Create();
        Assert.Equal([2], await other.GetAsync("k"));

        // The blocking write path too; what it wrote is kept in L1 (the script's reply came, on the second try).
        await Eventually.TrueAsync(() => other.Coordinator.IsSubscribed, "the other instance subscribed");
        foreach (var server in redis.Admin.GetServers())
        {
            await server.ScriptFlushAsync();
        }

        other.Set("k", [3], new DistributedCacheEntryOptions());
        Assert.Equal([3], other.Get("k"));
        Assert.Equal(1, other.GetStatistics().L1Hits);
    }
}
