using System.Diagnostics;
using System.Globalization;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// A real local Redis Cluster of three masters (no replicas) on free loopback ports, made with
/// <c>redis-cli --cluster create</c>, and stopped by the process ids of its nodes.
/// </summary>
public sealed class RedisCluster : IAsyncLifetime
{
    private readonly List<RedisProcess> _nodes = [];

    /// <summary>Every node, as a StackExchange.Redis configuration string.</summary>
    public string Endpoints => string.Join(',', _nodes.Select(node => node.Endpoint));

    public async Task InitializeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            _nodes.Add(RedisProcess.Start(
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", RedisProcess.FreePort().ToString(CultureInfo.InvariantCulture), "--cluster-node-timeout", "2000"));
        }

        var create = await RunCliAsync(["--cluster", "create", .. _nodes.Select(node => node.Endpoint), "--cluster-replicas", "0", "--cluster-yes"]);
        Assert.True(create.ExitCode == 0, $"redis-cli --cluster create failed: {create.Output}");
        foreach (var node in _nodes)
        {
            await Eventually.TrueAsync(
                () => RunCliAsync(["-p", node.Port.ToString(CultureInfo.InvariantCulture), "cluster", "info"]).GetAwaiter().GetResult()
                    .Output.Contains("cluster_state:ok", StringComparison.Ordinal),
                $"cluster node {node.Endpoint} reports cluster_state:ok",
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

    private static async Task<(int ExitCode, string Output)> RunCliAsync(string[] arguments)
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
}

[CollectionDefinition(Name)]
public sealed class RedisClusterCollection : ICollectionFixture<RedisCluster>
{
    public const string Name = "redis-cluster";
}
