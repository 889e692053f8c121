using System.Collections.Concurrent;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The job of benchmarks whose result is a figure they compute (hit rate, bytes per entry) rather than their time: in
/// process, one warm-up and three measured operations, and a column showing the figure each method recorded.
/// </summary>
internal class MonitoringConfig : ManualConfig
{
    protected MonitoringConfig(string column, string legend, ConcurrentDictionary<string, double> results, Func<double, string> format)
    {
        _ = AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1)
            .WithWarmupCount(1)
            .WithIterationCount(3));
        _ = AddColumn(new ResultColumn(column, legend, (_, c) =>
            results.TryGetValue(c.Descriptor.WorkloadMethodDisplayInfo.Trim('\''), out var value) ? format(value) : "NA"));
    }
}
