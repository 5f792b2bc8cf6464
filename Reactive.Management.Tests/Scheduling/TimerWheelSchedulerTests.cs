using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Microsoft.Extensions.Time.Testing;
using Reactive.Management.Scheduling;
using Reactive.Management.Streams;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Scheduling;

/// <summary>
/// The wheel driven by a fake clock: every time below is exact, none is a wall-clock race. The clock moves in 1 ms steps
/// (<see cref="Step"/>): a fake clock that jumps further fires the wheel's timer once, late, at the end of the jump.
/// </summary>
public sealed class TimerWheelSchedulerTests
{
    private static readonly TimeSpan Resolution = TimeSpan.FromMilliseconds(10);

    [Fact]
    public void An_action_runs_on_the_first_tick_at_or_after_its_due_time_never_before()
    {
        var (time, wheel) = Start();
        var ranAt = new List<TimeSpan>();
        var started = time.GetTimestamp();
        wheel.Schedule(TimeSpan.FromMilliseconds(25), () => ranAt.Add(time.GetElapsedTime(started)));

        Step(time, TimeSpan.FromMilliseconds(29));
        Assert.Empty(ranAt);
        Step(time, TimeSpan.FromMilliseconds(1));
        Assert.Equal([TimeSpan.FromMilliseconds(30)], ranAt);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Randomized_due_times_run_within_one_resolution_after_due_and_in_due_order()
    {
        var (time, wheel) = Start();
        var random = new Random(20261127);
        var started = time.GetTimestamp();
        var runs = new List<(TimeSpan Due, TimeSpan Ran)>();
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < 40; i++)
            {
                var due = time.GetElapsedTime(started) + TimeSpan.FromTicks(random.NextInt64(TimeSpan.FromSeconds(60).Ticks));
                wheel.Schedule(due - time.GetElapsedTime(started), () => runs.Add((due, time.GetElapsedTime(started))));
            }

            Step(time, TimeSpan.FromMilliseconds(random.Next(3000)));
        }

        Step(time, TimeSpan.FromSeconds(61));

        Assert.Equal(2000, runs.Count);
        Assert.All(runs, run => Assert.InRange(run.Ran - run.Due, TimeSpan.Zero, Resolution));
        Assert.Equal(runs.Select(run => run.Ran).Order(), runs.Select(run => run.Ran));
    }

    [Fact]
    public void Actions_on_different_ticks_run_in_tick_order_and_on_one_tick_in_the_order_they_were_scheduled()
    {
        var (time, wheel) = Start();
        var order = new List<string>();
        wheel.Schedule(TimeSpan.FromMilliseconds(30), () => order.Add("30 a"));
        wheel.Schedule(TimeSpan.FromMilliseconds(10), () => order.Add("10"));
        wheel.Schedule(TimeSpan.FromMilliseconds(25), () => order.Add("30 b (due 25)"));
        wheel.Schedule(TimeSpan.FromMilliseconds(30), () => order.Add("30 c"));
        wheel.Schedule(TimeSpan.Zero, () => order.Add("next tick"));

        Step(time, TimeSpan.FromMilliseconds(30));

        Assert.Equal(["10", "next tick", "30 a", "30 b (due 25)", "30 c"], order);
    }

    [Fact]
    public void Interval_takes_one_periodic_entry_that_keeps_its_phase_and_is_gone_when_disposed()
    {
        var (time, wheel) = Start();
        var started = time.GetTimestamp();
        var ticks = new List<TimeSpan>();
        time.Advance(TimeSpan.FromMilliseconds(3)); // between ticks: the period counts from the subscription, not a tick

        var subscription = Observable.Interval(TimeSpan.FromMilliseconds(1000), wheel).Subscribe(_ => ticks.Add(time.GetElapsedTime(started)));
        for (var i = 0; i < 410; i++)
        {
            Step(time, TimeSpan.FromMilliseconds(10));
            Assert.Equal(1, wheel.Count); // Rx found ISchedulerPeriodic: one entry re-armed, never a new one per tick
        }

        subscription.Dispose();
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal([1010, 2010, 3010, 4010], ticks.Select(tick => tick.TotalMilliseconds));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void A_cancelled_action_never_runs_and_leaves_the_wheel()
    {
        var (time, wheel) = Start();
        var ran = false;
        var scheduled = wheel.Schedule(TimeSpan.FromSeconds(1), () => ran = true);
        Assert.Equal(1, wheel.Count);

        scheduled.Dispose();
        scheduled.Dispose();
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.False(ran);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void An_action_that_cancels_a_later_action_of_the_same_tick_stops_it_and_a_periodic_action_can_cancel_itself()
    {
        var (time, wheel) = Start();
        var order = new List<string>();
        var later = new SingleAssignmentDisposable();
        IDisposable? self = null;
        wheel.Schedule(TimeSpan.FromMilliseconds(10), () =>
        {
            order.Add("first");
            later.Dispose();
        });
        later.Disposable = wheel.Schedule(TimeSpan.FromMilliseconds(10), () => order.Add("second"));
        self = wheel.SchedulePeriodic(0, TimeSpan.FromMilliseconds(10), n =>
        {
            order.Add($"periodic {n}");
            if (n == 2)
            {
                self!.Dispose();
            }

            return n + 1;
        });

        Step(time, TimeSpan.FromMilliseconds(100));

        Assert.Equal(["first", "periodic 0", "periodic 1", "periodic 2"], order);
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Disposing_the_wheel_drops_every_action_and_refuses_new_ones()
    {
        var (time, wheel) = Start();
        var runs = 0;
        wheel.Schedule(TimeSpan.FromSeconds(1), () => runs++);
        wheel.SchedulePeriodic(0, TimeSpan.FromMilliseconds(100), n =>
        {
            runs++;
            return n;
        });

        wheel.Dispose();
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(0, runs);
        Assert.Equal(0, wheel.Count);
        Assert.Throws<ObjectDisposedException>(() => wheel.Schedule(TimeSpan.FromSeconds(1), () => runs++));
        wheel.Dispose();
    }

    [Fact]
    public void A_late_tick_runs_every_missed_tick_in_order_and_a_missed_period_runs_once_then_starts_again()
    {
        var time = new ManualTimeProvider();
        using var wheel = new TimerWheelScheduler(Resolution, time);
        var log = new List<string>();
        wheel.Schedule(TimeSpan.FromMilliseconds(20), () => log.Add($"20 at {time.Now}"));
        wheel.Schedule(TimeSpan.FromMilliseconds(50), () => log.Add($"50 at {time.Now}"));
        wheel.SchedulePeriodic(0, TimeSpan.FromMilliseconds(30), n =>
        {
            log.Add($"periodic at {time.Now}");
            return n;
        });

        // The runtime timer came 95 ms late (a GC pause, a starved thread pool): one callback, every tick since.
        time.Now = 95;
        time.Fire();
        time.Now = 120;
        time.Fire();

        Assert.Equal(["20 at 95", "periodic at 95", "50 at 95", "periodic at 120"], log);
    }

    [Fact]
    public void A_timer_callback_that_finds_the_wheel_busy_leaves_the_work_to_the_running_one_which_catches_up()
    {
        var time = new ManualTimeProvider();
        using var wheel = new TimerWheelScheduler(Resolution, time);
        var log = new List<string>();
        wheel.Schedule(TimeSpan.FromMilliseconds(10), () =>
        {
            log.Add($"10 at {time.Now}");
            // While this tick runs, time passes and the timer fires again (on another thread, in production).
            time.Now = 30;
            time.Fire();
            log.Add("the second callback returned");
        });
        wheel.Schedule(TimeSpan.FromMilliseconds(30), () => log.Add($"30 at {time.Now}"));

        time.Now = 10;
        time.Fire();

        Assert.Equal(["10 at 10", "the second callback returned", "30 at 30"], log);
    }

    [Fact]
    public async Task Thousands_of_users_schedule_and_cancel_concurrently_while_the_wheel_ticks()
    {
        using var wheel = new TimerWheelScheduler(TimeSpan.FromMilliseconds(1), TimeProvider.System);
        const int Users = 4000;
        var ran = new int[Users];
        var periodicRuns = new int[Users];
        var cancelledPeriodics = new IDisposable[Users];
        var random = new Random(20261127);
        var delays = Enumerable.Range(0, Users).Select(_ => random.Next(0, 30)).ToArray();

        await Task.WhenAll(Enumerable.Range(0, Users).Select(user => Task.Run(() =>
        {
            // Each user: a one-shot it keeps, one it cancels at once, a periodic it cancels after its first run.
            wheel.Schedule(TimeSpan.FromMilliseconds(delays[user]), () => Interlocked.Increment(ref ran[user]));
            wheel.Schedule(TimeSpan.FromMilliseconds(delays[user] + 10_000), () => Interlocked.Add(ref ran[user], 1000)).Dispose();
            cancelledPeriodics[user] = wheel.SchedulePeriodic(user, TimeSpan.FromMilliseconds(2), u =>
            {
                Interlocked.Increment(ref periodicRuns[u]);
                return u;
            });
        })));

        await Eventually.TrueAsync(() => ran.All(count => count != 0) && periodicRuns.All(count => count != 0), "every kept action ran");
        foreach (var periodic in cancelledPeriodics)
        {
            periodic.Dispose();
        }

        Assert.All(ran, count => Assert.Equal(1, count));
        Assert.Equal(0, wheel.Count);
        var after = periodicRuns.ToArray();
        // The wheel ticks on (a later action proves ticks passed) and no cancelled periodic runs again.
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        wheel.Schedule(TimeSpan.FromMilliseconds(20), marker.SetResult);
        await marker.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(after, periodicRuns);
    }

    [Fact]
    public void A_thousand_heartbeat_streams_on_the_wheel_keep_their_schedule_through_job_resets()
    {
        var (time, wheel) = Start();
        var interval = TimeSpan.FromSeconds(1);
        var started = time.GetTimestamp();
        var random = new Random(20261127);
        var streams = Enumerable.Range(0, 1000).Select(_ => new System.Reactive.Subjects.Subject<string>()).ToArray();
        var seen = streams.Select(_ => new List<(string Item, TimeSpan At)>()).ToArray();
        var subscriptions = streams
            .Select((jobs, i) => jobs.WithHeartbeat(interval, () => "hb", wheel).Subscribe(item => seen[i].Add((item, time.GetElapsedTime(started)))))
            .ToList();

        for (var step = 0; step < 500; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(10));
            foreach (var stream in Enumerable.Range(0, 20).Select(_ => random.Next(streams.Length)))
            {
                streams[stream].OnNext("job");
            }
        }

        subscriptions.ForEach(subscription => subscription.Dispose());

        Assert.Equal(0, wheel.Count);
        foreach (var items in seen)
        {
            var previous = TimeSpan.Zero;
            foreach (var (item, at) in items)
            {
                // A heartbeat comes one interval after the previous item (rounded up to the tick), never earlier.
                if (item == "hb")
                {
                    Assert.InRange(at - previous, interval, interval + Resolution);
                }

                previous = at;
            }
        }

        Assert.Contains(seen, items => items.Count(item => item.Item == "hb") >= 4);
    }

    private static void Step(FakeTimeProvider time, TimeSpan by)
    {
        for (var ms = 0; ms < by.TotalMilliseconds; ms++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
    }

    private static (FakeTimeProvider Time, TimerWheelScheduler Wheel) Start()
    {
        var time = new FakeTimeProvider();
        return (time, new TimerWheelScheduler(Resolution, time));
    }

    /// <summary>A clock in whole milliseconds whose one timer fires only when told: a tick can come late, or re-enter.</summary>
    private sealed class ManualTimeProvider : TimeProvider
    {
        private TimerCallback? _callback;
        private object? _state;

        public long Now { get; set; }

        public override long TimestampFrequency => 1000;

        public override long GetTimestamp() => Now;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            (_callback, _state) = (callback, state);
            return new NoTimer();
        }

        public void Fire() => _callback!(_state);

        private sealed class NoTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
