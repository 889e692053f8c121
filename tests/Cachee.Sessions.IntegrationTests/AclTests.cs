using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// The least-privilege Redis user. The rule is the one line the README documents (read from it here, so that the
/// documentation cannot drift from what is tested); the whole flow runs as that user, and Redis' <c>ACL LOG</c> must record
/// no refusal: a command, key or channel outside the rule fails the test.
/// </summary>
public sealed class AclTests
{
    private const string Password = "acl-test-password";

    [Fact]
    public async Task TheDocumentedRule_CoversEverythingCacheeSends()
    {
        using var redis = RedisProcess.Start();
        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint + ",allowAdmin=true");
        var prefix = $"acl{Guid.NewGuid():N}:";
        await CreateUserAsync(admin, DocumentedRule(prefix));
        var asUser = redis.Endpoint + $",user=cachee,password={Password}";

        // Sessions through the middleware on three instances: loads, saves, refreshes, invalidations, a large session on the
        // large-value connections, and the Data Protection key ring in Redis.
        await using (var fleet = await SessionFleet.StartAsync(asUser, instances: 3, prefixOverride: prefix))
        {
            Assert.Equal("ok", await fleet.PostAsync(0, "/set/cart/apples"));
            await fleet.ExpectAsync(1, "/get/cart", "apples");
            Assert.Equal("pong", await fleet.GetAsync(2, "/ping"));
            Assert.Equal("ok", await fleet.PostAsync(2, "/set/cart/pears"));
            await fleet.ExpectAsync(0, "/get/cart", "pears");
            var hash = await fleet.PostAsync(1, "/big/400000");
            await fleet.ExpectAsync(0, "/big", hash);
            Assert.Equal(hash, await fleet.GetAsync(2, "/big"));
            Assert.All(Enumerable.Range(0, 3), i => Assert.True(fleet.CacheOf(i).Coordinator.IsSubscribed));
        }

        // The cache API directly: absolute and sliding entries, renewals, removals, compressed values, a large value, and a
        // change by another client revoked through tracking.
        await using (var instances = new Instances(asUser, prefix: prefix))
        {
            var writer = await instances.StartAsync(o => o.CompressValues = true);
            var reader = await instances.StartAsync(o => o.CompressValues = true);
            await writer.SetStringAsync("absolute", "a", new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(5) });
            await writer.SetStringAsync("sliding", "s", new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
            await writer.SetAsync("compressed", Encoding.UTF8.GetBytes(new string('x', 20_000)));
            await writer.SetAsync("large", new byte[200_000]);
            Assert.Equal("a", await reader.GetStringAsync("absolute"));
            Assert.Equal("s", await reader.GetStringAsync("sliding"));
            Assert.Equal(20_000, (await reader.GetAsync("compressed"))!.Length);
            Assert.Equal(200_000, (await reader.GetAsync("large"))!.Length);
            Assert.Equal(200_000, (await reader.GetAsync("large"))!.Length);
            await writer.SetAsync("large", new byte[200_001]); // the reader's copy is dropped: it reads a key it knows is large
            Assert.Equal(200_001, (await reader.GetAsync("large"))!.Length);
            await reader.RefreshAsync("sliding");
            await writer.RemoveAsync("absolute");
            Assert.Null(await reader.GetAsync("absolute"));

            _ = await admin.GetDatabase().HashSetAsync(prefix + "sliding", "data", "changed by another client");
            await Eventually.TrueAsync(async () => await reader.GetStringAsync("sliding") == "changed by another client", "the other client's change is revoked");
        }

        var refusals = await RefusalsAsync(admin);
        Assert.True(refusals.Count == 0, "Redis refused Cachee's user:\n" + string.Join('\n', refusals));
    }

    [Fact]
    public async Task OnACluster_TheDocumentedRuleAndItsClusterLine_CoverEverythingCacheeSends()
    {
        var cluster = new RedisCluster(replicasPerMaster: 0);
        await cluster.InitializeAsync();
        try
        {
            var prefix = $"acl{Guid.NewGuid():N}:";
            var nodes = cluster.Endpoints.Split(',');
            var admins = new List<ConnectionMultiplexer>();
            foreach (var node in nodes)
            {
                // ACL users are per node: a cluster's operator creates the user on every node.
                var admin = await ConnectionMultiplexer.ConnectAsync(node + ",allowAdmin=true,connectTimeout=5000");
                admins.Add(admin);
                var server = admin.GetServer(node);
                foreach (var rule in new[] { DocumentedRule(prefix), DocumentedRule(prefix, cluster: true) })
                {
                    _ = await server.ExecuteAsync("ACL", rule.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]);
                }

                _ = await server.ExecuteAsync("ACL", "LOG", "RESET");
            }

            try
            {
                await using (var fleet = await SessionFleet.StartAsync(cluster.Endpoints + $",user=cachee,password={Password}", instances: 2, prefixOverride: prefix))
                {
                    Assert.Equal("ok", await fleet.PostAsync(0, "/set/cart/apples"));
                    await fleet.ExpectAsync(1, "/get/cart", "apples");
                    Assert.Equal("ok", await fleet.PostAsync(1, "/set/cart/pears"));
                    await fleet.ExpectAsync(0, "/get/cart", "pears");
                    var hash = await fleet.PostAsync(1, "/big/400000");
                    await fleet.ExpectAsync(0, "/big", hash);
                }

                await using var instances = new Instances(cluster.Endpoints + $",user=cachee,password={Password}", prefix: prefix);
                var writer = await instances.StartAsync(o => o.CompressValues = true);
                var reader = await instances.StartAsync(o => o.CompressValues = true);
                for (var i = 0; i < 12; i++) // keys on every shard
                {
                    await writer.SetStringAsync("k" + i, "v" + i, new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromMinutes(5) });
                    Assert.Equal("v" + i, await reader.GetStringAsync("k" + i));
                    await reader.RefreshAsync("k" + i);
                }

                await writer.SetAsync("large", new byte[200_000]);
                Assert.Equal(200_000, (await reader.GetAsync("large"))!.Length);
                Assert.Equal(200_000, (await reader.GetAsync("large"))!.Length);
                await writer.SetAsync("large", new byte[200_001]);
                Assert.Equal(200_001, (await reader.GetAsync("large"))!.Length);
                await writer.SetAsync("compressed", Encoding.UTF8.GetBytes(new string('x', 20_000)));
                Assert.Equal(20_000, (await reader.GetAsync("compressed"))!.Length);
                await writer.RemoveAsync("k0");
                Assert.Null(await reader.GetAsync("k0"));
            }
            finally
            {
                var refusals = new List<string>();
                foreach (var admin in admins)
                {
                    refusals.AddRange(await RefusalsAsync(admin, admin.GetEndPoints()[0]));
                    await admin.DisposeAsync();
                }

                Assert.True(refusals.Count == 0, "Redis refused Cachee's user:\n" + string.Join('\n', refusals));
            }
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task AUserWithoutTheKeyPattern_FailsStartUp_SayingWhatIsMissing()
    {
        var refused = await StartUpRefusalAsync(prefix => DocumentedRule("other:"));

        Assert.Contains("NOPERM", refused.Message, StringComparison.Ordinal);
        Assert.Contains("ACL", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AUserWithoutTheChannels_FailsStartUp_SayingWhatIsMissing()
    {
        var refused = await StartUpRefusalAsync(prefix => DocumentedRule(prefix).Replace($"&{prefix}__cachee:* ", string.Empty, StringComparison.Ordinal));

        Assert.Contains("NOPERM", refused.Message, StringComparison.Ordinal);
        Assert.Contains("channel", refused.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AWrongPassword_FailsStartUp_SayingRedisRefusedTheConnection()
    {
        // On a server whose default user is off, as a secured one is (otherwise a failed AUTH leaves a connection as that user).
        var refused = await StartUpRefusalAsync(prefix => DocumentedRule(prefix), password: "wrong", defaultUserOff: true);

        Assert.Contains("refused the connection", refused.Message, StringComparison.Ordinal);
    }

    // Creates the user with rule(prefix) on a server of the test's own, then starts a host as that user with password: returns
    // how its start-up failed.
    private static async Task<InvalidOperationException> StartUpRefusalAsync(Func<string, string> rule, string password = Password, bool defaultUserOff = false)
    {
        using var redis = RedisProcess.Start();
        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint + ",allowAdmin=true");
        var prefix = $"acl{Guid.NewGuid():N}:";
        await CreateUserAsync(admin, rule(prefix));
        if (defaultUserOff)
        {
            _ = await admin.GetDatabase().ExecuteAsync("ACL", "SETUSER", "default", "off");
        }

        return await Assert.ThrowsAsync<InvalidOperationException>(() => StartHostAsync(redis.Endpoint, prefix, password));
    }

    // The README's rule (or the line a cluster adds to it) for this prefix and the test's password.
    private static string DocumentedRule(string prefix, bool cluster = false)
    {
        var readme = Path.Combine(ChildProcesses.RepositoryRoot(), "README.md");
        var start = cluster ? "ACL SETUSER cachee &{*}" : "ACL SETUSER cachee on ";
        var line = File.ReadLines(readme).Select(l => l.Trim()).Single(l => l.StartsWith(start, StringComparison.Ordinal));
        return line.Replace("<password>", Password, StringComparison.Ordinal).Replace("<prefix>", prefix, StringComparison.Ordinal);
    }

    private static async Task CreateUserAsync(ConnectionMultiplexer admin, string rule)
    {
        var words = rule.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["ACL", "SETUSER"], words[..2]);
        _ = await admin.GetDatabase().ExecuteAsync("ACL", words[1..]);
        _ = await admin.GetDatabase().ExecuteAsync("ACL", "LOG", "RESET");
    }

    private static async Task<List<string>> RefusalsAsync(ConnectionMultiplexer admin, System.Net.EndPoint? node = null)
    {
        var log = (RedisResult[])(node is null
            ? await admin.GetDatabase().ExecuteAsync("ACL", "LOG")
            : await admin.GetServer(node).ExecuteAsync("ACL", "LOG"))!;
        return [.. log.Select(entry =>
        {
            var fields = ((RedisResult[])entry!).Select(field => field.ToString()).ToArray();
            string Field(string name) => fields[Array.IndexOf(fields, name) + 1];
            return $"{Field("reason")} {Field("object")} ({Field("context")}, {Field("count")} times)";
        })];
    }

    private static async Task StartHostAsync(string endpoint, string prefix, string password = Password)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddCacheeSessions(o =>
        {
            o.Configuration = endpoint + $",user=cachee,password={password}";
            o.InstanceName = prefix;
        });
        await using var app = builder.Build();
        try
        {
            await app.StartAsync();
        }
        finally
        {
            await app.StopAsync();
        }
    }
}
