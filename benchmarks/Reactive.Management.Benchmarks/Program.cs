using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Reactive.Management.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
