using System.Globalization;
using StackExchange.Redis;

namespace Cachee.Sessions.Benchmarks;

/// <summary>What a Redis server reports of its own work: commands run (<c>INFO commandstats</c>) and CPU used (<c>INFO cpu</c>).</summary>
internal static class RedisServerStats
{
    /// <summary>Commands run since the statistics were last reset, leaving out the INFO and CONFIG calls that read them.</summary>
    public static long Commands(IServer server) =>
        server.Info("commandstats").SelectMany(group => group)
            .Where(pair => pair.Key is not "cmdstat_info" and not "cmdstat_config")
            .Sum(pair => long.Parse(pair.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture));

    /// <summary>CPU seconds the server used since it started (system and user).</summary>
    public static double CpuSeconds(IServer server)
    {
        var cpu = server.Info("cpu").SelectMany(group => group)
            .ToDictionary(pair => pair.Key, pair => double.Parse(pair.Value, CultureInfo.InvariantCulture));
        return cpu["used_cpu_sys"] + cpu["used_cpu_user"];
    }
}
