using Cachee.Sessions.Redis.Cluster;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>On a real redis-server: an instance whose copies of a key are never hit stops holding it, and holds it again once reads find it unchanged.</summary>
[Collection(RedisCollection.Name)]
public sealed class HoldingOnRedisTests(RedisServer redis) : IAsyncLifetime
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private readonly Instances _instances = new(redis);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _instances.DisposeAsync();

    [Fact]
    public async Task AKeyChangedBeforeEveryRead_IsReadWithoutRegistration_OnTheUntrackedConnection_AndHeldAgainOnceStable()
    {
        var writer = await _instances.StartAsync(o => o.HoldOnlyPayingCopies = true);
        var reader = await _instances.StartAsync(o => o.HoldOnlyPayingCopies = true);
        var registry = HolderRegistryKey.For(_instances.Prefix, "k");
        var db = redis.Admin.GetDatabase();
        for (var round = 0; round < 6; round++)
        {
            await writer.SetAsync("k", [(byte)round], Sliding);
            Assert.Equal([(byte)round], (await reader.GetAsync("k"))!); // never stale, held or not
        }

        // Only the writer is registered: the reader's last reads kept no copy and did not register.
        Assert.Equal([writer.InstanceId], (await db.SetMembersAsync(registry)).Select(member => (string)member!).ToArray());
        var clients = (string)(await redis.Admin.GetServers()[0].ExecuteAsync("CLIENT", "LIST"))!;
        Assert.Contains(
            clients.Split('\n'),
            line => line.Contains($"name=cachee-{reader.InstanceId}-untracked ", StringComparison.Ordinal)
                && (line.Contains("cmd=pttl", StringComparison.Ordinal) || line.Contains("cmd=hmget", StringComparison.Ordinal)));

        // A write now waits for nobody on the reader's side, and the reader still reads it at once.
        var received = reader.GetStatistics().InvalidationsReceived;
        await writer.SetAsync("k", [9], Sliding);
        Assert.Equal([9], (await reader.GetAsync("k"))!);
        Assert.Equal(received, reader.GetStatistics().InvalidationsReceived);

        // Reads that find the key unchanged make the reader hold it again; then a change reaches it before the write returns.
        var served = false;
        for (var read = 0; read < 10 && !served; read++)
        {
            var hits = reader.GetStatistics().L1Hits;
            Assert.Equal([9], (await reader.GetAsync("k"))!);
            served = reader.GetStatistics().L1Hits == hits + 1;
        }

        Assert.True(served, "the reader serves the key from L1 again");
        Assert.Contains(reader.InstanceId, (await db.SetMembersAsync(registry)).Select(member => (string)member!));
        await writer.SetAsync("k", [10], Sliding);
        Assert.Equal([10], (await reader.GetAsync("k"))!);
    }
}
