using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// A master, a replica and three sentinels on loopback; the master is killed (SIGKILL), or Sentinel is told to fail over,
/// while two instances write and read sessions. Nothing stale is served, writes resume after the promotion, and no
/// acknowledged write is lost.
/// </summary>
[Collection(FailoverCollection.Name)]
public sealed class SentinelFailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Service = "cachee";
    private static readonly DistributedCacheEntryOptions Sliding = new() { SlidingExpiration = TimeSpan.FromMinutes(20) };
    private readonly List<RedisProcess> _sentinels = [];
    private RedisProcess _master = null!;
    private RedisProcess _replica = null!;
    private volatile bool _replicaPaused;

    private string Configuration => string.Join(',', _sentinels.Select(s => s.Endpoint)) + $",serviceName={Service}";

    public async Task InitializeAsync()
    {
        _master = RedisProcess.Start();
        _replica = RedisProcess.StartReplicaOf(_master);
        for (var i = 0; i < 3; i++)
        {
            _sentinels.Add(RedisProcess.StartSentinel(Service, _master.Port));
        }
    }

    public Task DisposeAsync()
    {
        foreach (var process in _sentinels.Append(_replica).Append(_master))
        {
            process.Dispose();
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task MasterKilled_ReplicaInSync_NothingStale_WritesResumeWithinFiveSeconds()
    {
        var run = await RunAsync(minReplicas: 0, lagging: false, KillMasterAsync);
        Assert.Equal(0, run.Stale);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(5), $"writes resumed {run.Resumed} after the kill");
        Assert.Equal(0, run.Lost);
    }

    [Fact]
    public async Task MasterKilled_ReplicaLagging_NothingStale_WritesResumeWithinFiveSeconds()
    {
        // On loopback a paused replica catches up from its socket buffer once let go, so this does not reproduce the loss
        // seen over a network; the figure is reported all the same.
        var run = await RunAsync(minReplicas: 0, lagging: true, KillMasterAsync);
        Assert.Equal(0, run.Stale);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(5), $"writes resumed {run.Resumed} after the kill");
    }

    [Fact]
    public async Task MasterKilled_ReplicaLagging_WithOneReplicaToAcknowledge_NothingStaleNothingLost()
    {
        // The writes made while the replica was paused were refused (it could not confirm them), so none is acknowledged and
        // lost. The promoted replica has no replica left: writes are refused until the old master is back (restarted once the
        // promotion happened, as a replica of the new master) and in sync.
        var run = await RunAsync(minReplicas: 1, lagging: true, async () =>
        {
            await KillMasterAsync();

            // Back as a replica of the new master, as an operator restarts a master that keeps no data, once the failover has
            // settled. Restarted empty as a master, it could be taken for the master again and wipe the promoted replica.
            // Restarted at once, while the sentinels still doubted the just-promoted master (its first pings after the switch
            // went unanswered within the down-after on a busy machine), it was the only replica a second failover could pick,
            // and was promoted empty before it had synced. Both were seen; docs/chaos.md has the runs.
            await WaitUntilFailoverSettledAsync();
            _master.Restart("--replicaof", "127.0.0.1", _replica.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        });
        Assert.Equal(0, run.Stale);
        Assert.Equal(0, run.Lost);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(20), $"writes resumed {run.Resumed} after the kill");
    }

    [Fact]
    public async Task GracefulSentinelFailover_WithoutReplicaAcknowledgement_WritesGoOn_LossAndStaleReadsReported()
    {
        // Without replica acknowledgement, a graceful failover has two masters for a while: the old one stays a master until
        // Sentinel turns it into a replica, and each instance's multiplexer switches to the new one in its own time. Writes
        // that reach the old master are acknowledged and then discarded when it resyncs (measured: 990 of 1,485, and 1,537 of
        // 1,901), and an instance still on the old master can read it while another already wrote to the new one (62 stale
        // reads in one run, none in others). Reported, not asserted: the remedy is MinReplicasToAcknowledge (the next test),
        // under which no write is acknowledged until the old master is a replica.
        var run = await RunAsync(minReplicas: 0, lagging: false, FailOverAsync);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(5), $"writes resumed {run.Resumed} after the failover began");
    }

    [Fact]
    public async Task GracefulSentinelFailover_WithOneReplicaToAcknowledge_NothingStaleNothingLost()
    {
        // The promoted replica has no replica until Sentinel turns the old master into one (it notices its role on its next
        // INFO, up to 10 s later) and it has synced: writes are refused meanwhile (measured: about 16 s).
        var run = await RunAsync(minReplicas: 1, lagging: false, FailOverAsync);
        Assert.Equal(0, run.Stale);
        Assert.Equal(0, run.Lost);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(30), $"writes resumed {run.Resumed} after the failover began");
    }

    // Asks Sentinel to fail over (graceful: the master is alive) and returns once the replica was promoted.
    private async Task FailOverAsync()
    {
        Assert.Contains("OK", Sentinel(_sentinels[0], "SENTINEL", "FAILOVER", Service), StringComparison.Ordinal);
        await Eventually.TrueAsync(() => MasterPort() == _replica.Port, "Sentinel promoted the replica", TimeSpan.FromSeconds(20));
    }

    // Kills the master and returns once every sentinel names the promoted replica as the master.
    private async Task KillMasterAsync()
    {
        _master.Kill();
        if (_replicaPaused)
        {
            _replica.Resume(); // let go as the master dies
            _replicaPaused = false;
        }

        await Eventually.TrueAsync(() => MasterPort() == _replica.Port, "Sentinel promoted the replica", TimeSpan.FromSeconds(20));
    }
    // Returns once every sentinel has seen the promoted master up, with no failover under way, for two seconds in a row.
    private async Task WaitUntilFailoverSettledAsync()
    {
        var steady = Stopwatch.StartNew();
        await Eventually.TrueAsync(
            () =>
            {
                if (!_sentinels.All(sentinel => MasterFlagsAccordingTo(sentinel) == "master"))
                {
                    steady.Restart();
                    return false;
                }

                return steady.Elapsed >= TimeSpan.FromSeconds(2);
            },
            "every sentinel sees the promoted master up, with no failover under way",
            TimeSpan.FromSeconds(30));
    }

    // The flags one sentinel gives the master ("master" alone when it is up and no failover is under way).
    private static string MasterFlagsAccordingTo(RedisProcess sentinel)
    {
        var reply = Sentinel(sentinel, "SENTINEL", "MASTER", Service).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var at = Array.IndexOf(reply, "flags");
        return at >= 0 && at + 1 < reply.Length ? reply[at + 1] : string.Empty;
    }

    // The port of the master every sentinel names now (0 while they disagree).
    private int MasterPort() => _sentinels.Select(sentinel => MasterPortAccordingTo(sentinel)).Distinct().Count() == 1
        ? MasterPortAccordingTo(_sentinels[0])
        : 0;

    // The port of the master one sentinel names now (0: none yet).
    private static int MasterPortAccordingTo(RedisProcess sentinel)
    {
        var reply = Sentinel(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", Service).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return reply.Length == 2 && int.TryParse(reply[1], System.Globalization.CultureInfo.InvariantCulture, out var port) ? port : 0;
    }

    // A command to a sentinel, through redis-cli.
    private static string Sentinel(RedisProcess sentinel, params string[] command) =>
        RedisCluster.CliAsync(["-p", sentinel.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. command]).GetAwaiter().GetResult().Output;

    // Whether every replica the master lists has acknowledged its whole replication stream.
    private static bool ReplicasCaughtUp(RedisProcess master)
    {
        using var connection = ConnectionMultiplexer.Connect(master.Endpoint + ",allowAdmin=true");
        var info = connection.GetServer(connection.GetEndPoints()[0]).InfoRaw("replication") ?? string.Empty;
        var fields = info.Split('\n', StringSplitOptions.TrimEntries);
        var offset = fields.First(line => line.StartsWith("master_repl_offset:", StringComparison.Ordinal)).Split(':')[1];
        var replicas = fields.Where(line => line.StartsWith("slave", StringComparison.Ordinal) && line.Contains("offset=", StringComparison.Ordinal)).ToArray();
        return replicas.Length == 1 && replicas.All(line => line.Contains($"offset={offset},", StringComparison.Ordinal));
    }

    private sealed record Run(int Stale, int Lost, TimeSpan Resumed);

    // Two instances write and read sessions (one new key per write); the master is killed after 200 rounds, one replica
    // paused for the two seconds before when lagging (and let go as the master dies); the traffic goes on until 200 rounds
    // after writes resumed. Lost: acknowledged writes the promoted master does not have.
    private async Task<Run> RunAsync(int minReplicas, bool lagging, Func<Task> fault)
    {
        await using var instances = new Instances(Configuration);
        var a = await instances.StartAsync(o => (o.InvalidationAckTimeout, o.MinReplicasToAcknowledge) = (TimeSpan.FromSeconds(2), minReplicas));
        var b = await instances.StartAsync(o => (o.InvalidationAckTimeout, o.MinReplicasToAcknowledge) = (TimeSpan.FromSeconds(2), minReplicas));
        var traffic = new FailoverTraffic(output);
        var pausedAt = TimeSpan.Zero;

        // Until the fault is over and 200 writes in a row succeeded since the last refusal (bounded in time).
        for (var round = 0; traffic.Elapsed < TimeSpan.FromSeconds(40) && !traffic.Settled; round++)
        {
            if (round == 200 && lagging && pausedAt == TimeSpan.Zero)
            {
                _replica.Pause();
                _replicaPaused = true;
                pausedAt = traffic.Elapsed;
            }

            if (traffic.Fault is null && round >= 200 && (!lagging || traffic.Elapsed - pausedAt > TimeSpan.FromSeconds(2)))
            {
                if (!lagging)
                {
                    // "In sync": the replica has every write acknowledged so far (replication is asynchronous, even here).
                    await Eventually.TrueAsync(() => ReplicasCaughtUp(_master), "the replica caught up", TimeSpan.FromSeconds(10));
                }

                traffic.StartFault(fault);
            }

            var (writer, reader) = round % 2 == 0 ? (a, b) : (b, a);
            await traffic.RoundAsync(writer, reader, $"s{round}", BitConverter.GetBytes(round));
        }

        await traffic.Fault!;
        using var promoted = await ConnectionMultiplexer.ConnectAsync(Configuration + ",abortConnect=false");
        await Eventually.TrueAsync(() => promoted.IsConnected, "a connection to the promoted master", TimeSpan.FromSeconds(20));
        var lost = await traffic.FinishAsync(promoted.GetDatabase(), instances.Prefix);

        output.WriteLine(
            $"minReplicas {minReplicas}, lagging {lagging}: {traffic.Acknowledged} writes acknowledged, {lost} lost, {traffic.Refused} refused, "
            + $"{traffic.Stale} stale reads, writes resumed {traffic.Resumed} after the fault");
        return new Run(traffic.Stale, lost, traffic.Resumed);
    }
}
