using System.Diagnostics;
using System.Reactive.Concurrency;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// The real-time half of the wheel's benchmark: 1,000,000 periodic actions at 30 s, their phases spread over the period
/// (each starts after a random delay, as jittered heartbeats do), then the process's CPU over one full period.
/// </summary>
internal static class SchedulerDrive
{
    private const int Actions = 1_000_000;
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(30);

    public static void Run(IScheduler scheduler, string name)
    {
        long runs = 0;
        var random = new Random(20261127);
        var started = new List<IDisposable>(Actions);
        var periodic = new IDisposable?[Actions];
        for (var i = 0; i < Actions; i++)
        {
            var index = i;
            started.Add(scheduler.Schedule(TimeSpan.FromTicks(random.NextInt64(Period.Ticks)), () =>
                periodic[index] = scheduler.SchedulePeriodic(0, Period, state =>
                {
                    Interlocked.Increment(ref runs);
                    return state;
                })));
        }

        // Every action has started by now (within the first period); measure the next one.
        Thread.Sleep(Period + TimeSpan.FromSeconds(2));
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var runsBefore = Interlocked.Read(ref runs);
        var clock = Stopwatch.StartNew();
        Thread.Sleep(Period);
        process.Refresh();
        var cores = (process.TotalProcessorTime - cpuBefore).TotalSeconds / clock.Elapsed.TotalSeconds;
        var rate = (Interlocked.Read(ref runs) - runsBefore) / clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{name}: {Actions:N0} periodic actions at {Period.TotalSeconds} s: {cores * 100:F2} % of a core to drive ({rate:N0} runs/s, expected {Actions / Period.TotalSeconds:N0}/s)");
        started.ForEach(start => start.Dispose());
        foreach (var action in periodic)
        {
            action?.Dispose();
        }

        (scheduler as IDisposable)?.Dispose();
        GC.Collect();
    }
}
