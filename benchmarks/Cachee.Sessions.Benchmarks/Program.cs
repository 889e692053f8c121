using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Cachee.Sessions.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
