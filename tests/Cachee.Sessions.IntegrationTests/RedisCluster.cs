using System.Diagnostics;
using System.Globalization;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// A real local Redis Cluster of three masters, with or without replicas, on free loopback
/// ports, made with <c>redis-cli --cluster create</c>, and stopped by the process ids of its nodes.
/// </summary>
public sealed class RedisCluster : IAsyncLifetime
{
    private readonly List<RedisProcess> _nodes = [];
    private readonly int _replicasPerMaster;

    /// <summary>Three masters and no replica: the shared fixture of <see cref="RedisClusterCollection"/>.</summary>
    public RedisCluster()
        : this(0)
    {
    }

    /// <summary>
    /// Three masters with <paramref name="replicasPerMaster"/> replicas each (xUnit fixtures need the one public constructor
    /// above); <paramref name="fullCoverage"/> false lets the other shards take writes while one has no master
    /// (<c>cluster-require-full-coverage no</c>).
    /// </summary>
    internal RedisCluster(int replicasPerMaster, bool fullCoverage = true) =>
        (_replicasPerMaster, _fullCoverage) = (replicasPerMaster, fullCoverage);

    private readonly bool _fullCoverage;

    /// <summary>Every node, as a StackExchange.Redis configuration string.</summary>
    public string Endpoints => string.Join(',', _nodes.Select(node => node.Endpoint));

    /// <summary>The node process listening on <paramref name="port"/>.</summary>
    internal RedisProcess NodeOnPort(int port) => _nodes.Single(node => node.Port == port);

    public async Task InitializeAsync()
    {
        for (var i = 0; i < 3 * (1 + _replicasPerMaster); i++)
        {
            _nodes.Add(RedisProcess.Start(
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", RedisProcess.FreePort().ToString(CultureInfo.InvariantCulture), "--cluster-node-timeout", "2000",
                "--cluster-require-full-coverage", _fullCoverage ? "yes" : "no"));
        }

        var create = await CliAsync([
            "--cluster", "create", .. _nodes.Select(node => node.Endpoint),
            "--cluster-replicas", _replicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"]);
        Assert.True(create.ExitCode == 0, $"redis-cli --cluster create failed: {create.Output}");
        foreach (var node in _nodes)
        {
            await Eventually.TrueAsync(
                () => Cli(node, "cluster", "info").Contains("cluster_state:ok", StringComparison.Ordinal)
                    && (!Cli(node, "role").StartsWith("slave", StringComparison.Ordinal)
                        || Cli(node, "info", "replication").Contains("master_link_status:up", StringComparison.Ordinal)),
                $"cluster node {node.Endpoint} reports cluster_state:ok (and, a replica, its link to its master up)",
                TimeSpan.FromSeconds(30));
        }
    }

    public Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        return Task.CompletedTask;
    }

    /// <summary>Runs <c>redis-cli -h 127.0.0.1</c> with <paramref name="arguments"/>, bounded to 30 s.</summary>
    public static async Task<(int ExitCode, string Output)> CliAsync(string[] arguments)
    {
        var start = new ProcessStartInfo("redis-cli") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-h");
        start.ArgumentList.Add("127.0.0.1");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("redis-cli did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(limit.Token);
        return (process.ExitCode, await output + await error);
    }

    private static string Cli(RedisProcess node, params string[] command) =>
        CliAsync(["-p", node.Port.ToString(CultureInfo.InvariantCulture), .. command]).GetAwaiter().GetResult().Output;
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisCluster>
{
    public const string Name = "redis-cluster";
}
