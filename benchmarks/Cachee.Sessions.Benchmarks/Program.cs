using BenchmarkDotNet.Running;
using Cachee.Sessions.Benchmarks;

// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- session-context [seconds]
if (args is ["session-context", .. var rest])
{
    await SessionContextBenchmark.RunAsync(rest);
}
else
{
    _ = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
