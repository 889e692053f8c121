using System.Diagnostics;
using Cachee.Sessions.L2;
using Cachee.Sessions.Redis;
using Cachee.Sessions.Redis.Cluster;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Cachee.Sessions.IntegrationTests;

/// <summary><see cref="WriteFailureMode.Replay"/> on a real redis-server: the replay script, and a write queued across a crash.</summary>
[Collection(RedisCollection.Name)]
public sealed class ReplayOnRedisTests(RedisServer redis)
{
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };

    [Fact]
    public async Task ReplayScript_AppliesOnlyOnTheVersionItWasBasedOn()
    {
        var options = new CacheeOptions { Configuration = redis.Endpoint, InstanceName = $"t{Guid.NewGuid():N}:" };
        using var connection = new RedisConnection(options, "cachee-test");
        var topology = new ClusterTopology(options.InstanceName);
        var store = new RedisL2Store(connection, options.InstanceName, topology, new ShardInboxes(topology, "replay-test", "origin", new MessagePump("test")), "origin", TimeSpan.FromSeconds(1));
        var expiration = new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks);
        var ttl = expiration.TtlMilliseconds(DateTime.UtcNow.Ticks);

        Assert.NotNull(await store.ReplayAsync(new ReplayedWrite("fresh", [1], expiration, 0), ttl, sync: false, CancellationToken.None));
        var written = await store.SetAsync("k", [1], expiration, ttl, 0, hold: true, sync: false, CancellationToken.None);
        Assert.Null(await store.ReplayAsync(new ReplayedWrite("k", [2], expiration, written.Version - 1), ttl, sync: false, CancellationToken.None));
        var replayed = await store.ReplayAsync(new ReplayedWrite("k", [3], expiration, written.Version), ttl, sync: false, CancellationToken.None);
        Assert.Equal(written.Version + 1, replayed?.Version);

        var entry = await store.GetAsync("k", register: false, refreshSliding: false, DateTime.UtcNow.Ticks, sync: false, CancellationToken.None);
        Assert.Equal([3], entry?.Data);
    }

    [Fact]
    public async Task AWriteAcceptedWhileRedisIsDown_ReachesRedisAndTheOtherInstanceWhenItIsBack()
    {
        using var server = RedisProcess.Start("--appendonly", "yes", "--appendfsync", "always");
        var logs = new CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        await using var instances = new Instances(server.Endpoint, loggerFactory);
        var a = await instances.StartAsync(o =>
        {
            o.WriteFailureMode = WriteFailureMode.Replay;
            o.CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(200);
        });
        var b = await instances.StartAsync();
        await a.SetAsync("session", "v1"u8.ToArray(), Sliding);
        Assert.Equal("v1"u8.ToArray(), await b.GetAsync("session"));

        server.Kill();
        await a.SetAsync("session", "v2"u8.ToArray(), Sliding); // accepted, queued
        Assert.Equal("v2"u8.ToArray(), await a.GetAsync("session"));
        Assert.Equal(1, a.GetStatistics().ReplayPending);

        server.Restart();
        await Eventually.TrueAsync(
            () => a.GetStatistics().ReplayApplied == 1, "the queued write is replayed", TimeSpan.FromSeconds(30), () => $"a: {a.GetStatistics()}\n{string.Join('\n', logs.Lines)}");
        await Eventually.TrueAsync(() => b.Coordinator.IsSubscribed, "b hears invalidations again", TimeSpan.FromSeconds(30));
        var seen = Array.Empty<byte>();
        await Eventually.TrueAsync(() =>
        {
            try
            {
                seen = b.Get("session") ?? [];
            }
            catch (CacheUnavailableException)
            {
                return false;
            }

            return true;
        }, "b reads again", TimeSpan.FromSeconds(30));
        Assert.Equal("v2"u8.ToArray(), seen);
        Assert.Equal(0, a.GetStatistics().ReplayPending);
    }

    [Fact]
    public async Task ReplayAttemptsThatTimedOutAgainstAPausedRedis_DoNotLandLate_AndTheLastAttemptApplies()
    {
        using var server = RedisProcess.Start();
        await using var instances = new Instances(server.Endpoint);
        var a = await instances.StartAsync(o =>
        {
            o.WriteFailureMode = WriteFailureMode.Replay;
            o.L2OperationTimeout = TimeSpan.FromMilliseconds(100);
            o.CircuitBreakerBreakDuration = TimeSpan.FromMilliseconds(100);
        });
        await a.SetAsync("session", "v1"u8.ToArray(), Sliding);

        server.Pause();
        try
        {
            await a.SetAsync("session", "v2"u8.ToArray(), Sliding); // times out: queued for replay
            var failures = a.GetStatistics().L2Failures;

            // Several replay attempts go out to the frozen server and time out; each sits in its socket until it resumes.
            await Eventually.TrueAsync(() => a.GetStatistics().L2Failures >= failures + 3, "replays time out", TimeSpan.FromSeconds(30));
        }
        finally
        {
            server.Resume();
        }

        // The attempts the replayer gave up on reach Redis after their deadline and are rejected there, so the attempt that
        // follows still finds v1 and applies; before, the first late one applied, and the next was taken as superseded.
        await Eventually.TrueAsync(() => a.GetStatistics().ReplayPending == 0, "the queue empties", TimeSpan.FromSeconds(30));
        Assert.Equal((1L, 0L), (a.GetStatistics().ReplayApplied, a.GetStatistics().ReplaySuperseded));
        using var admin = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        Assert.Equal("v2", (string?)await admin.GetDatabase().HashGetAsync(instances.Prefix + "session", "data"));
    }

    [Fact]
    public async Task AWriteWhoseClockMeasurementWasHeldUpByAPausedRedis_IsStillRejectedPastItsDeadline()
    {
        using var server = RedisProcess.Start();
        // The connection itself waits long (StackExchange.Redis would otherwise time the TIME out at 1 s); the store's writes
        // have the window of a 1 s operation timeout.
        var options = new CacheeOptions { Configuration = server.Endpoint, InstanceName = $"t{Guid.NewGuid():N}:", L2OperationTimeout = TimeSpan.FromSeconds(20) };
        using var connection = new RedisConnection(options, "cachee-test");
        var topology = new ClusterTopology(options.InstanceName);
        var store = new RedisL2Store(connection, options.InstanceName, topology, new ShardInboxes(topology, "deadline-test", "origin", new MessagePump("test")), "origin", TimeSpan.FromSeconds(1));
        _ = await (await connection.GetAsync(sync: false, CancellationToken.None)).GetDatabase().PingAsync();
        var expiration = new EntryExpiration(EntryExpiration.None, TimeSpan.FromMinutes(20).Ticks);

        // The store's first write measures Redis' clock (TIME) before it sends the script; Redis is frozen for longer than
        // the write's window (0.75 s), as a caller would have given up by then.
        server.Pause();
        var write = store.SetAsync("k", [1], expiration, expiration.TtlMilliseconds(DateTime.UtcNow.Ticks), 0, hold: true, sync: false, CancellationToken.None).AsTask();
        var frozen = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => frozen.Elapsed > TimeSpan.FromSeconds(1.5), "the server stays frozen past the write's window");
        server.Resume();

        // Before, the deadline was taken when TIME came back, after the resume, and the write landed.
        await Assert.ThrowsAsync<TimeoutException>(() => write);
        using var admin = await ConnectionMultiplexer.ConnectAsync(server.Endpoint);
        Assert.False(await admin.GetDatabase().KeyExistsAsync(options.InstanceName + "k"));
    }
}
