using System.Reactive.Concurrency;
using BenchmarkDotNet.Running;
using Reactive.Management.Benchmarks;

// dotnet run -c Release --project benchmarks/Reactive.Management.Benchmarks -- --filter '*'
// dotnet run -c Release --project benchmarks/Reactive.Management.Benchmarks -- drive [wheel|default]   (1,000,000 heartbeats in real time)
if (args is ["drive", ..])
{
    if (args is not [_, "default"])
    {
        SchedulerDrive.Run(new Reactive.Management.Scheduling.TimerWheelScheduler(), "timer wheel (10 ms)");
    }

    if (args is not [_, "wheel"])
    {
        SchedulerDrive.Run(DefaultScheduler.Instance, "Rx DefaultScheduler (runtime timers)");
    }

    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
