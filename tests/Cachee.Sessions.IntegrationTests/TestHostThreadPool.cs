using System.Runtime.CompilerServices;

namespace Cachee.Sessions.IntegrationTests;

/// <summary>
/// Gives the test host's thread pool room before any test runs. The test host blocks pool threads of its own, and tests
/// call the blocking APIs (as the session middleware does) from several collections at once; with the default minimum (one
/// thread per core: two on the CI machine) a continuation of a Redis reply then waited up to a second for the pool to grow,
/// long enough for a write to miss its deadline (seen in about one run in ten of <c>ReplayOnRedisTests</c>; none in 40 runs
/// with this minimum). Applications that block on Redis need the same setting (README, "Blocking calls and the thread pool").
/// </summary>
internal static class TestHostThreadPool
{
    private const int MinimumWorkerThreads = 32;

    [ModuleInitializer]
    internal static void Widen()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        _ = ThreadPool.SetMinThreads(Math.Max(workers, MinimumWorkerThreads), completionPorts);
    }
}
