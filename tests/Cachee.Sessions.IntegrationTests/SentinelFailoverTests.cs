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
        // lost. The promoted replica has no replica left: writes are refused until the old master is back (restarted, as a
        // supervisor would, once the promotion happened; Sentinel makes it a replica of the new master) and in sync.
        var run = await RunAsync(minReplicas: 1, lagging: true, async () =>
        {
            await KillMasterAsync();
            _master.Restart();
        });
        Assert.Equal(0, run.Stale);
        Assert.Equal(0, run.Lost);
        Assert.True(run.Resumed < TimeSpan.FromSeconds(20), $"writes resumed {run.Resumed} after the kill");
    }

    [Fact]
    public async Task GracefulSentinelFailover_WithoutReplicaAcknowledgement_NothingStale_WritesGoOn()
    {
        // Without replica acknowledgement, writes that still reach the old master after the promotion (it stays a master
        // until Sentinel turns it into a replica, and the multiplexer switches over in its own time) are acknowledged and
        // then discarded when it resyncs as a replica: measured, 990 of 1,485. The loss is reported, not asserted; the
        // remedy is MinReplicasToAcknowledge (the next test).
        var run = await RunAsync(minReplicas: 0, lagging: false, FailOverAsync);
        Assert.Equal(0, run.Stale);
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
        Assert.Contains("OK", Sentinel("SENTINEL", "FAILOVER", Service), StringComparison.Ordinal);
        await Eventually.TrueAsync(() => MasterPort() == _replica.Port, "Sentinel promoted the replica", TimeSpan.FromSeconds(20));
    }

    // Kills the master and returns once the sentinels promoted the replica.
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

    // The port of the master the first sentinel names now.
    private int MasterPort()
    {
        var reply = Sentinel("SENTINEL", "GET-MASTER-ADDR-BY-NAME", Service).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return reply.Length == 2 && int.TryParse(reply[1], System.Globalization.CultureInfo.InvariantCulture, out var port) ? port : 0;
    }

    // A command to the first sentinel, through redis-cli.
    private string Sentinel(params string[] command) =>
        RedisCluster.CliAsync(["-p", _sentinels[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. command]).GetAwaiter().GetResult().Output;

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
        var acknowledged = new List<(string Key, byte[] Value)>();
        int stale = 0, failed = 0, sinceRefusal = 0;
        var reasons = new HashSet<string>(StringComparer.Ordinal);
        TimeSpan pausedAt = TimeSpan.Zero, faultAt = TimeSpan.Zero, resumedAt = TimeSpan.Zero;
        Task? faultTask = null;
        var clock = Stopwatch.StartNew();

        // Until the fault is over and 200 writes in a row succeeded since the last refusal (bounded in time).
        for (var round = 0; clock.Elapsed < TimeSpan.FromSeconds(40) && !(faultTask is { IsCompleted: true } && sinceRefusal >= 200); round++)
        {
            if (round == 200 && lagging && pausedAt == TimeSpan.Zero)
            {
                _replica.Pause();
                _replicaPaused = true;
                pausedAt = clock.Elapsed;
            }

            if (faultTask is null && round >= 200 && (!lagging || clock.Elapsed - pausedAt > TimeSpan.FromSeconds(2)))
            {
                if (!lagging)
                {
                    // "In sync": the replica has every write acknowledged so far (replication is asynchronous, even here).
                    await Eventually.TrueAsync(() => ReplicasCaughtUp(_master), "the replica caught up", TimeSpan.FromSeconds(10));
                }

                // The fault runs beside the traffic (an election takes seconds).
                faultTask = Task.Run(fault);
                faultAt = clock.Elapsed;
            }

            var key = $"s{round}";
            var value = BitConverter.GetBytes(round);
            var (writer, reader) = round % 2 == 0 ? (a, b) : (b, a);
            try
            {
                await writer.SetAsync(key, value, Sliding);
                acknowledged.Add((key, value));
                if (faultTask is not null)
                {
                    // Writing again: the first success after the last refusal.
                    resumedAt = sinceRefusal == 0 ? clock.Elapsed : resumedAt;
                    sinceRefusal++;
                }
            }
            catch (CacheUnavailableException ex)
            {
                // Refused (an open breaker refuses at once): pace the retries rather than spin a core the failover needs.
                if (reasons.Add(ex.Message[..Math.Min(60, ex.Message.Length)]))
                {
                    output.WriteLine($"{clock.Elapsed - faultAt} after the fault, refused: {ex.Message} {ex.InnerException?.Message}");
                }

                failed++;
                sinceRefusal = 0;
                await Task.Delay(5);
                continue;
            }

            try
            {
                if (!(await reader.GetAsync(key)).AsSpan().SequenceEqual(value))
                {
                    stale++;
                }
            }
            catch (CacheUnavailableException)
            {
                // Unavailable is not stale.
            }
        }

        Assert.NotNull(faultTask);
        await faultTask;
        Assert.True(sinceRefusal >= 200, $"writes did not resume within 40 s ({sinceRefusal} since the last refusal)");
        resumedAt = resumedAt == TimeSpan.Zero ? faultAt : resumedAt; // never refused
        using var promoted = await ConnectionMultiplexer.ConnectAsync(Configuration + ",abortConnect=false");
        await Eventually.TrueAsync(() => promoted.IsConnected, "a connection to the promoted master", TimeSpan.FromSeconds(20));
        var lost = 0;
        foreach (var (key, value) in acknowledged)
        {
            if (!((byte[]?)await promoted.GetDatabase().HashGetAsync(instances.Prefix + key, "data")).AsSpan().SequenceEqual(value))
            {
                lost++;
            }
        }

        output.WriteLine(
            $"minReplicas {minReplicas}, lagging {lagging}: {acknowledged.Count} writes acknowledged, {lost} lost, {failed} refused, "
            + $"{stale} stale reads, writes resumed {resumedAt - faultAt} after the fault");
        return new Run(stale, lost, resumedAt - faultAt);
    }
}
