using BenchmarkDotNet.Running;
using Cachee.Sessions.Benchmarks;

// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- session-context [seconds]
// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- write-breakdown [writes]
if (args is ["session-context", .. var rest])
{
    await SessionContextBenchmark.RunAsync(rest);
}
else if (args is ["write-breakdown", .. var writes])
{
    await WriteBreakdownBenchmark.RunAsync(writes);
}
else
{
    _ = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
