using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Cachee.Sessions.Benchmarks;

/// <summary>
/// The job of the benchmarks whose one operation is a whole workload that records its own figures (latencies, Redis
/// counters): in process, one invocation per iteration, the given warm-up and iteration counts, one launch, and no forced
/// collection between iterations unless asked for (it would bleed into the next measurement).
/// </summary>
internal static class OperationJob
{
    public static Job InProcess(int warmups, int iterations, bool forceGc = false) => Job.Default
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithInvocationCount(1)
        .WithUnrollFactor(1)
        .WithWarmupCount(warmups)
        .WithIterationCount(iterations)
        .WithLaunchCount(1)
        .WithGcForce(forceGc);
}
