using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The job of the L1 benchmarks: in process (no separate build per benchmark, nothing else competing for the two
/// cores), BenchmarkDotNet's automatic iteration counts, allocations measured.
/// </summary>
internal sealed class MicroConfig : ManualConfig
{
    public MicroConfig()
    {
        _ = AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance));
        _ = AddDiagnoser(MemoryDiagnoser.Default);
    }
}
