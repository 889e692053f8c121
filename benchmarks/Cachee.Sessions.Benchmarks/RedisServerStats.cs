using System.Globalization;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>What a Redis server reports of its own work: commands run (<c>INFO commandstats</c>) and CPU used (<c>INFO cpu</c>).</summary>
internal static class RedisServerStats
{
    /// <summary>Commands run since the statistics were last reset, leaving out the INFO and CONFIG calls that read them.</summary>
    public static long Commands(IServer server) =>
        PerCommand(server).Where(command => command.Name is not "info" and not "config").Sum(command => command.Calls);

    /// <summary>Each command's calls and the server's time in it (µs) since the statistics were last reset.</summary>
    public static IEnumerable<(string Name, long Calls, long Microseconds)> PerCommand(IServer server) =>
        server.Info("commandstats").SelectMany(group => group).Select(pair =>
        {
            var fields = pair.Value.Split(',');
            return (
                pair.Key.Replace("cmdstat_", string.Empty, StringComparison.Ordinal),
                long.Parse(fields[0].Split('=')[1], CultureInfo.InvariantCulture),
                long.Parse(fields[1].Split('=')[1], CultureInfo.InvariantCulture));
        });

    /// <summary>CPU seconds the server used since it started (system and user).</summary>
    public static double CpuSeconds(IServer server)
    {
        var cpu = server.Info("cpu").SelectMany(group => group)
            .ToDictionary(pair => pair.Key, pair => double.Parse(pair.Value, CultureInfo.InvariantCulture));
        return cpu["used_cpu_sys"] + cpu["used_cpu_user"];
    }
}
