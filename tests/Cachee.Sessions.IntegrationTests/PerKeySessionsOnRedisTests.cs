using System.Globalization;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Sessions key by key on a real <c>redis-server</c>, through Kestrel apps with <c>UseSession</c>: concurrent requests of one
/// user changing different keys, a small change that leaves the large key where it is, and a rolling migration from and
/// back to the stack of <c>AddStackExchangeRedisCache</c> + <c>AddSession</c>.
/// </summary>
[Collection(RedisCollection.Name)]
public sealed class PerKeySessionsOnRedisTests(RedisServer redis)
{
    [Fact]
    public async Task TwoRequestsChangingDifferentKeys_OnTwoInstances_BothSurvive()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 3);
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/user/ada"));
        var lost = 0;
        for (var pair = 0; pair < 30; pair++)
        {
            var value = pair.ToString(CultureInfo.InvariantCulture);
            var first = fleet.PostAsync(pair % 3, $"/pair/a/{value}");
            var second = fleet.PostAsync((pair + 1) % 3, $"/pair/b/{value}");
            Assert.Equal(["ok", "ok"], await Task.WhenAll(first, second));
            var reader = (pair + 2) % 3;
            lost += (await fleet.GetAsync(reader, "/get/a") == value ? 0 : 1) + (await fleet.GetAsync(reader, "/get/b") == value ? 0 : 1);
        }

        Assert.Equal(0, lost);
        Assert.Equal("ada", await fleet.GetAsync(1, "/get/user"));
    }

    [Fact]
    public async Task ASmallChange_NeitherRewritesNorMovesTheLargeKey()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 2);
        const int Large = 1024 * 1024;
        var hash = await fleet.PostAsync(0, $"/big/{Large}");
        Assert.Equal(hash, await fleet.GetAsync(1, "/big")); // instance 1 holds the large key in L1
        var server = redis.Admin.GetServers().Single();
        var (written, _) = await TrafficAsync(server, () => fleet.PostAsync(0, "/set/step/2"));
        var readBefore = fleet.CacheOf(1).GetStatistics().L2BytesRead;
        Assert.Equal(hash, await fleet.GetAsync(1, "/big"));
        Assert.Equal("2", await fleet.GetAsync(1, "/get/step"));
        var read = fleet.CacheOf(1).GetStatistics().L2BytesRead - readBefore;

        Assert.True(written < 64 * 1024, $"a 1-character change sent {written} bytes to Redis");
        Assert.True(read < 1024, $"reading the unchanged large key after the change read {read} value bytes from Redis");
    }

    [Fact]
    public async Task OldStackSessions_AreReadByCachee_AndMovedKeyByKey()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 0);
        var old = await fleet.AddOldStackInstanceAsync();
        var cachee = await fleet.AddInstanceAsync();
        var other = await fleet.AddInstanceAsync();
        Assert.Equal("ok", await fleet.PostAsync(old, "/set/user/ada"));
        Assert.Equal("ok", await fleet.PostAsync(old, "/set/cart/3"));

        Assert.Equal("ada", await fleet.GetAsync(cachee, "/get/user"));
        Assert.Equal("ok", await fleet.PostAsync(cachee, "/set/cart/4"));
        Assert.Equal("4", await fleet.GetAsync(other, "/get/cart"));
        Assert.Equal("ada", await fleet.GetAsync(other, "/get/user"));
        var keys = await KeysAsync(fleet.Prefix);
        Assert.Contains(keys, key => key.EndsWith("}#", StringComparison.Ordinal)); // the index of the session, key by key
    }

    [Fact]
    public async Task InDistributedSessionFormat_OldAndNewInstancesShareSessions_BothWays()
    {
        await using var fleet = await SessionFleet.StartAsync(redis, instances: 0);
        var old = await fleet.AddOldStackInstanceAsync();
        var cachee = await fleet.AddInstanceAsync(o => o.SessionFormat = SessionFormat.DistributedSession);

        Assert.Equal("ok", await fleet.PostAsync(cachee, "/set/user/ada"));
        Assert.Equal("ada", await fleet.GetAsync(old, "/get/user"));
        Assert.Equal("ok", await fleet.PostAsync(old, "/set/cart/1"));
        Assert.Equal("1", await fleet.GetAsync(cachee, "/get/cart"));
        Assert.Equal("ok", await fleet.PostAsync(cachee, "/set/cart/2"));
        Assert.Equal("2", await fleet.GetAsync(old, "/get/cart"));
        Assert.DoesNotContain(await KeysAsync(fleet.Prefix), key => key.EndsWith("}#", StringComparison.Ordinal));

        // The last step of the migration: the instances switch to PerKey, and the sessions follow at their next change.
        var switched = await fleet.AddInstanceAsync();
        Assert.Equal("ada", await fleet.GetAsync(switched, "/get/user"));
        Assert.Equal("ok", await fleet.PostAsync(switched, "/set/cart/3"));
        Assert.Equal("3", await fleet.GetAsync(cachee, "/get/cart"));
        Assert.Equal("ada", await fleet.GetAsync(cachee, "/get/user"));
    }

    [Fact]
    public async Task EncryptedKeys_AreBoundToTheirName_ACopiedValueIsAMissOfThatKeyOnly()
    {
        var key = new CacheeEncryptionKey { Id = "k1", Key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };
        void Encrypting(CacheeOptions o)
        {
            o.EncryptValues = true;
            o.EncryptionKeys = [key];
        }

        await using var fleet = await SessionFleet.StartAsync(redis.Endpoint, instances: 1, cache: Encrypting);
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/user/ada"));
        Assert.Equal("ok", await fleet.PostAsync(0, "/set/role/admin"));
        var database = redis.Admin.GetDatabase();
        var keys = await KeysAsync(fleet.Prefix);
        var user = fleet.Prefix + keys.Single(k => k.EndsWith("}=user", StringComparison.Ordinal));
        var role = fleet.Prefix + keys.Single(k => k.EndsWith("}=role", StringComparison.Ordinal));
        Assert.DoesNotContain("admin", System.Text.Encoding.UTF8.GetString((byte[])(await database.HashGetAsync(role, "data"))!), StringComparison.Ordinal);

        // Someone with write access to Redis copies the encrypted "admin" into the user key: it decrypts nowhere else.
        _ = await database.HashSetAsync(user, "data", await database.HashGetAsync(role, "data"));
        var fresh = await fleet.AddInstanceAsync(Encrypting);
        Assert.Equal("(none)", await fleet.GetAsync(fresh, "/get/user"));
        Assert.Equal("admin", await fleet.GetAsync(fresh, "/get/role"));
        Assert.True(fleet.CacheOf(fresh).GetStatistics().UnreadablePayloads >= 1);
    }

    private async Task<string[]> KeysAsync(string prefix) =>
        [.. redis.Admin.GetServers().Single().Keys(pattern: prefix + "*").Select(key => key.ToString()![prefix.Length..])];

    // Bytes Redis received and sent while the action ran (the INFO calls add a few hundred bytes each).
    private static async Task<(long Received, long Sent)> TrafficAsync(IServer server, Func<Task> action)
    {
        var before = await StatsAsync(server);
        await action();
        var after = await StatsAsync(server);
        return (after.In - before.In, after.Out - before.Out);
    }

    private static async Task<(long In, long Out)> StatsAsync(IServer server)
    {
        var stats = (await server.InfoAsync("stats")).SelectMany(group => group).ToDictionary(pair => pair.Key, pair => pair.Value);
        return (long.Parse(stats["total_net_input_bytes"], CultureInfo.InvariantCulture), long.Parse(stats["total_net_output_bytes"], CultureInfo.InvariantCulture));
    }
}

/// <summary>Sessions key by key on a three-master cluster: a session's entries share its slot, wherever it lands.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class PerKeySessionsOnClusterTests(RedisCluster cluster)
{
    [Fact]
    public async Task ConcurrentChangesOfDifferentKeys_AndLargeKeys_WorkAcrossShards()
    {
        await using var fleet = await SessionFleet.StartAsync(cluster.Endpoints, instances: 3);
        var hash = await fleet.PostAsync(0, $"/big/{512 * 1024}");
        for (var pair = 0; pair < 10; pair++)
        {
            var value = pair.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(["ok", "ok"], await Task.WhenAll(fleet.PostAsync(pair % 3, $"/pair/a/{value}"), fleet.PostAsync((pair + 1) % 3, $"/pair/b/{value}")));
            Assert.Equal(value, await fleet.GetAsync((pair + 2) % 3, "/get/a"));
            Assert.Equal(value, await fleet.GetAsync((pair + 2) % 3, "/get/b"));
        }

        for (var instance = 0; instance < 3; instance++)
        {
            Assert.Equal(hash, await fleet.GetAsync(instance, "/big"));
        }
    }
}
