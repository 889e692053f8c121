using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>Three Kestrel instances over one Redis, one client bouncing between them as a round-robin balancer would send it.</summary>
[Collection(RedisCollection.Name)]
public sealed class SessionsAcrossInstancesTests(RedisServer redis)
{
    [Fact]
    public async Task EveryReadSeesThePreviousWrite_OnAnyInstance()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 3);
        for (var step = 0; step < 30; step++)
        {
            Assert.Equal("ok", await fleet.PostAsync(step % 3, $"/set/step/{step}"));
            Assert.Equal(step.ToString(System.Globalization.CultureInfo.InvariantCulture), await fleet.GetAsync((step + 1) % 3, "/get/step"));
            Assert.Equal(step.ToString(System.Globalization.CultureInfo.InvariantCulture), await fleet.GetAsync((step + 2) % 3, "/get/step"));
        }
    }

    [Fact]
    public async Task KilledInstance_LosesNoSession()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 3);
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/cart/book,pen"));
        Assert.Equal("book,pen", await fleet.GetAsync(0, "/get/cart"));
        await fleet.KillAsync(0);
        Assert.Equal("book,pen", await fleet.GetAsync(1, "/get/cart"));
        Assert.Equal("book,pen", await fleet.GetAsync(2, "/get/cart"));
    }

    [Fact]
    public async Task DataProtectionKeyRing_IsSharedThroughRedis_WithoutAppConfiguration()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 2);
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/user/alice"));
        Assert.Equal("alice", await fleet.GetAsync(1, "/get/user"));
        var keyRing = await redis.Admin.GetDatabase().ListLengthAsync(fleet.Prefix + "cachee:data-protection-keys");
        Assert.Equal(1, keyRing);
    }

    [Theory]
    [InlineData(350 * 1024)]
    [InlineData(2 * 1024 * 1024)]
    public async Task LargeSessions_WorkEndToEnd(int bytes)
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 3);
        var hash = await fleet.PostAsync(0, $"/big/{bytes}");
        Assert.Equal(hash, await fleet.GetAsync(1, "/big"));
        Assert.Equal(hash, await fleet.GetAsync(2, "/big"));
        Assert.Equal(hash, await fleet.GetAsync(1, "/big"));

        // Changed on another instance: the instances holding the old session hear it, and none serves the old one again.
        var changed = await fleet.PostAsync(1, $"/big/{bytes}");
        Assert.NotEqual(hash, changed);
        for (var instance = 0; instance < 3; instance++)
        {
            Assert.Equal(changed, await fleet.GetAsync(instance, "/big"));
        }

        Assert.Equal(0, Enumerable.Range(0, 3).Sum(i => fleet.CacheOf(i).GetStatistics().AckTimeouts));
    }

    [Fact]
    public async Task ReadOnlyRequestsOnWarmInstances_RunNoRedisCommand()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 3);
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/user/alice"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("alice", await fleet.GetAsync(i, "/get/user")); // warms each instance's L1
        }

        var server = redis.Admin.GetServers().Single();
        var before = await CommandsAsync(server);
        for (var i = 0; i < 60; i++)
        {
            Assert.Equal("alice", await fleet.GetAsync(i % 3, "/get/user"));
        }

        var after = await CommandsAsync(server);
        Assert.Equal(before, after);
        Assert.True(Enumerable.Range(0, 3).Sum(i => fleet.CacheOf(i).GetStatistics().L1Hits) >= 60);
    }

    /// <summary>Every command Redis ran, from INFO commandstats, leaving out the INFO calls that read it.</summary>
    private static async Task<long> CommandsAsync(IServer server)
    {
        var stats = await server.InfoAsync("commandstats");
        return stats.SelectMany(group => group)
            .Where(pair => pair.Key != "cmdstat_info")
            .Sum(pair => long.Parse(pair.Value.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
