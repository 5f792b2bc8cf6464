using System.Reactive.Concurrency;
using BenchmarkDotNet.Attributes;
using Reactive.Management.Scheduling;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// What a heartbeat reset costs (a periodic schedule disposed and made anew), on the timer wheel and on Rx's
/// <see cref="DefaultScheduler"/> (a runtime timer), side by side.
/// </summary>
[MemoryDiagnoser]
public class TimerWheelScheduleBenchmarks
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(30);
    private static readonly Func<int, int> Beat = state => state + 1;
    private IScheduler _scheduler = null!;

    [Params("wheel", "default")]
    public string Scheduler { get; set; } = "wheel";

    [GlobalSetup]
    public void Setup() => _scheduler = Scheduler == "wheel" ? new TimerWheelScheduler() : DefaultScheduler.Instance;

    [GlobalCleanup]
    public void Cleanup() => (_scheduler as IDisposable)?.Dispose();

    [Benchmark(Description = "SchedulePeriodic(30 s) + Dispose")]
    public void ScheduleAndCancel() => _scheduler.SchedulePeriodic(0, Period, Beat).Dispose();
}

/// <summary>
/// One tick of a wheel holding 1,000,000 periodic actions at 30 s (as many heartbeats), driven by a hand-turned clock
/// (its timer is a callback the benchmark calls, so nothing but the wheel allocates): the ~333 actions due in the tick
/// run and are re-armed. At 100 ticks a second, the time per tick × 100 is the share of a core the wheel takes.
/// </summary>
[MemoryDiagnoser]
public class TimerWheelTickBenchmarks
{
    private const int Entries = 1_000_000;
    private HandTurnedClock _time = null!;
    private TimerWheelScheduler _wheel = null!;
    private long _beats;

    [GlobalSetup]
    public void Setup()
    {
        _time = new HandTurnedClock();
        _wheel = new TimerWheelScheduler(TimerWheelScheduler.DefaultResolution, _time);
        for (var i = 0; i < Entries; i++)
        {
            // Spread over one period (30 µs apart), as streams opened over time are.
            _time.Advance(TimeSpan.FromTicks(300));
            _wheel.SchedulePeriodic(this, TimeSpan.FromSeconds(30), static self =>
            {
                self._beats++;
                return self;
            });
        }

        // Past the first period, so every tick has its share of due actions.
        for (var ms = 0; ms < 31_000; ms += 10)
        {
            _time.Advance(TimerWheelScheduler.DefaultResolution);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _wheel.Dispose();

    [Benchmark(Description = "one 10 ms tick, 1,000,000 periodic actions at 30 s")]
    public void Tick() => _time.Advance(TimerWheelScheduler.DefaultResolution);
}

/// <summary>A clock that moves only when told, whose one timer fires when the clock is moved.</summary>
internal sealed class HandTurnedClock : TimeProvider, ITimer
{
    private TimerCallback? _callback;
    private object? _state;
    private long _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        (_callback, _state) = (callback, state);
        return this;
    }

    /// <summary>Moves the clock and fires the timer (the wheel looks at the clock and runs every tick up to it).</summary>
    public void Advance(TimeSpan by)
    {
        _now += by.Ticks;
        _callback?.Invoke(_state);
    }

    public bool Change(TimeSpan dueTime, TimeSpan period) => true;

    public void Dispose()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
