using Microsoft.Extensions.Caching.Distributed;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>Microsoft's RedisCache and Cachee, on the same Redis and InstanceName, read each other's entries.</summary>
[Collection(RedisCollection.Name)]
public sealed class RedisCacheInteropTests(RedisServer redis) : IAsyncLifetime
{
    private readonly Instances _instances = new(redis);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _instances.DisposeAsync();

    [Fact]
    public async Task CacheeWrites_RedisCacheReads()
    {
        var cachee = await _instances.StartAsync();
        var redisCache = _instances.CreateRedisCache();
        var options = new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5), AbsoluteExpirationRelativeToNow = TimeSpan.FromHours(1) };
        await cachee.SetAsync("k", [1, 2, 3], options);
        await cachee.SetAsync("plain", [4], new DistributedCacheEntryOptions());

        Assert.Equal([1, 2, 3], await redisCache.GetAsync("k"));
        Assert.Equal([4], redisCache.Get("plain"));
        await redisCache.RefreshAsync("k");
    }

    [Fact]
    public async Task MixedFleet_WithL1Off_SeesEveryRedisCacheChange()
    {
        // Plain RedisCache instances publish no invalidations, so while a fleet is half migrated Cachee runs with
        // L1MaxEntryBytes = 0 (no L1 copies) and stays exactly as coherent as RedisCache itself.
        var cachee = await _instances.StartAsync(o => o.L1MaxEntryBytes = 0);
        var redisCache = _instances.CreateRedisCache();
        await cachee.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await cachee.GetAsync("k"));
        await redisCache.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await cachee.GetAsync("k"));
        await redisCache.RemoveAsync("k");
        Assert.Null(await cachee.GetAsync("k"));
        Assert.Equal(0, cachee.GetStatistics().L1Entries);
    }

    [Fact]
    public async Task RedisCacheWrites_CacheeReads_WithTheSameExpiry()
    {
        var cachee = await _instances.StartAsync();
        var redisCache = _instances.CreateRedisCache();
        var absolute = DateTimeOffset.UtcNow.AddMinutes(30);
        await redisCache.SetAsync("k", [9, 8], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5), AbsoluteExpiration = absolute });
        await redisCache.SetAsync("plain", [7], new DistributedCacheEntryOptions());

        Assert.Equal([9, 8], await cachee.GetAsync("k"));
        Assert.Equal([7], cachee.Get("plain"));
        var ttl = await redis.Admin.GetDatabase().KeyTimeToLiveAsync(_instances.Prefix + "k");
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4.9), TimeSpan.FromMinutes(5));
        Assert.Null(await redis.Admin.GetDatabase().KeyTimeToLiveAsync(_instances.Prefix + "plain"));
    }

    [Fact]
    public async Task StoredHash_HasRedisCacheFieldsAndSemantics()
    {
        var cachee = await _instances.StartAsync();
        var before = DateTimeOffset.UtcNow;
        await cachee.SetAsync("k", [5], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(2), AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1) });
        await cachee.SetAsync("none", [6], new DistributedCacheEntryOptions());
        var database = redis.Admin.GetDatabase();

        var fields = (await database.HashGetAllAsync(_instances.Prefix + "k")).ToDictionary(e => (string)e.Name!, e => e.Value);
        Assert.Equal([5], (byte[])fields["data"]!);
        Assert.Equal(TimeSpan.FromMinutes(2).Ticks, (long)fields["sldexp"]);
        Assert.InRange((long)fields["absexp"], before.AddMinutes(1).UtcTicks, DateTimeOffset.UtcNow.AddMinutes(1).UtcTicks);
        var ttl = await database.KeyTimeToLiveAsync(_instances.Prefix + "k");
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(58), TimeSpan.FromMinutes(1)); // the sliding window is capped by the absolute

        var none = (await database.HashGetAllAsync(_instances.Prefix + "none")).ToDictionary(e => (string)e.Name!, e => e.Value);
        Assert.Equal(-1, (long)none["absexp"]);
        Assert.Equal(-1, (long)none["sldexp"]);
        Assert.Null(await database.KeyTimeToLiveAsync(_instances.Prefix + "none"));
    }

    [Fact]
    public async Task CacheeOverwritesEntryWrittenByRedisCache()
    {
        var cachee = await _instances.StartAsync();
        var redisCache = _instances.CreateRedisCache();
        await redisCache.SetAsync("k", [1], new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(1) });
        await cachee.SetAsync("k", [2], new DistributedCacheEntryOptions());
        Assert.Equal([2], await redisCache.GetAsync("k"));
        Assert.Null(await redis.Admin.GetDatabase().KeyTimeToLiveAsync(_instances.Prefix + "k"));
    }
}
