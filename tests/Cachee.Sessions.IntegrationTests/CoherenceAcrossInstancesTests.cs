using System.Diagnostics;
using Cachee.Sessions.Invalidation;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>Several instances, each with its own connection, on one real Redis.</summary>
[Collection(RedisCollection.Name)]
public sealed class CoherenceAcrossInstancesTests(RedisServer redis) : IAsyncLifetime
{
    private readonly Instances _instances = new(redis);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _instances.DisposeAsync();

    [Fact]
    public async Task WriteOnA_ReplacesBsL1Copy()
    {
        var a = await _instances.StartAsync();
        var b = await _instances.StartAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal([1], await b.GetAsync("k"));
        Assert.Equal(1, b.GetStatistics().L1Hits);

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        await Eventually.TrueAsync(() => b.Get("k") is [2], "b serves the new value");
        await a.RemoveAsync("k");
        await Eventually.TrueAsync(() => b.Get("k") is null, "b sees the removal");
    }

    [Fact]
    public async Task ManyWritersAndReaders_ConvergeOnRedisValue()
    {
        var caches = new[] { await _instances.StartAsync(), await _instances.StartAsync(), await _instances.StartAsync() };
        var options = new DistributedCacheEntryOptions();
        await Parallel.ForAsync(0, 3000, async (i, token) =>
        {
            var cache = caches[i % 3];
            if (i % 5 == 0)
            {
                await cache.SetAsync($"k{i % 11}", BitConverter.GetBytes(i), options, token);
            }
            else
            {
                _ = await cache.GetAsync($"k{i % 11}", token);
            }
        });

        var database = redis.Admin.GetDatabase();
        for (var k = 0; k < 11; k++)
        {
            var truth = (byte[]?)await database.HashGetAsync(_instances.Prefix + $"k{k}", "data");
            foreach (var cache in caches)
            {
                await Eventually.TrueAsync(() => cache.Get($"k{k}").AsSpan().SequenceEqual(truth), $"every instance serves Redis' value of k{k}");
            }
        }
    }

    [Fact]
    public async Task SubscriptionKilled_NothingFromBeforeTheGapIsServed()
    {
        var a = await _instances.StartAsync();
        var b = await _instances.StartAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await b.GetAsync("k"));

        // Kill every pub/sub connection, then write on a straight away: b must converge on the new value.
        foreach (var server in redis.Admin.GetServers())
        {
            _ = await server.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
        }

        await a.SetAsync("k", [2], new DistributedCacheEntryOptions());
        var converged = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => b.Get("k") is [2], "b converges on the new value", TimeSpan.FromSeconds(1));
        Assert.True(converged.Elapsed < TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(() => b.Coordinator.IsSubscribed, "b's subscription comes back");
        await a.SetAsync("k", [3], new DistributedCacheEntryOptions());
        await Eventually.TrueAsync(() => b.Get("k") is [3], "invalidations flow again");
    }

    [Fact]
    public async Task ForeignMessagesOnTheChannel_AreIgnoredAndCounted()
    {
        var a = await _instances.StartAsync();
        await a.SetAsync("k", [1], new DistributedCacheEntryOptions());
        Assert.Equal([1], await a.GetAsync("k"));
        var channel = RedisChannel.Literal(Invalidation.InvalidationMessage.InboxChannel(
            TieredDistributedCache.ChannelName(new CacheeOptions { InstanceName = _instances.Prefix }), a.InstanceId));
        _ = await redis.Admin.GetSubscriber().PublishAsync(channel, "not a cachee message");
        await Eventually.TrueAsync(() => a.GetStatistics().InvalidationsMalformed == 1, "the message is counted");
        Assert.Equal([1], await a.GetAsync("k"));
        Assert.Equal(2, a.GetStatistics().L1Hits);
    }
}
