using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Reactive.Management.Scheduling;

/// <summary>
/// A hashed timer wheel as an Rx scheduler: every timed action it holds, one-shot or periodic, shares one runtime timer
/// that ticks once per <see cref="Resolution"/>. Scheduling and cancelling are O(1) (a linked-list insert and unlink
/// under one short lock), so a Job stream's heartbeat (an <c>Observable.Interval</c>, Switch-reset on every job) costs
/// an entry in the wheel instead of a runtime timer.
/// </summary>
/// <remarks>
/// <para>
/// Timing: an action due at <c>t</c> runs on the first tick at or after <c>t</c>, never before it: up to one
/// <see cref="Resolution"/> late, plus whatever delays the tick itself (the thread's wake-up, the actions before it in
/// the same tick). An action scheduled with no delay runs on the next tick. A periodic action keeps its phase: its
/// n-th run is due at <c>start + n·period</c>, so lateness never accumulates; a run whose due time has already
/// passed when the previous one returns (the tick fell behind by more than a period) runs once, on the next tick, and
/// the period starts again from then: missed runs are never made up back to back.
/// </para>
/// <para>
/// Order: actions due on different ticks run in tick order; those on the same tick in the order they were scheduled.
/// Every action runs on the wheel's thread, one at a time, so an action must be short and must not block (as on Rx's
/// <c>EventLoopScheduler</c>): a heartbeat seals one message and starts its write. As with Rx's own schedulers, an
/// exception thrown by an action is not caught.
/// </para>
/// <para>
/// Time comes from the <see cref="TimeProvider"/> (a <c>FakeTimeProvider</c> drives it in tests): its timestamps for
/// due times, its clock for <see cref="Now"/>, and its timer for the ticks (one-shot, re-armed for each tick's
/// boundary, so the ticks stay on their grid). On <see cref="TimeProvider.System"/> the wheel turns on a thread of its
/// own instead, sleeping to each boundary. A tick that comes late catches up on every tick it missed, in order.
/// </para>
/// </remarks>
public sealed class TimerWheelScheduler : IScheduler, ISchedulerPeriodic, IServiceProvider, IDisposable
{
    /// <summary>The resolution <see cref="TimerWheelScheduler()"/> uses: 10 ms.</summary>
    public static readonly TimeSpan DefaultResolution = TimeSpan.FromMilliseconds(10);

    // 4,096 slots of 10 ms span 41 s: a 30 s heartbeat is visited once per period. Longer delays wait in their slot for
    // more turns of the wheel (each turn costs them one comparison).
    private const int SlotCount = 4096;
    private const int SlotMask = SlotCount - 1;

    private readonly Lock _gate = new();
    private readonly Entry?[] _slots = new Entry?[SlotCount];
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly long _resolutionTicks;
    private readonly ITimer? _timer;
    private readonly Thread? _thread;
    private long _processedTick;
    private int _count;
    private int _advancing;
    private bool _disposed;

    /// <summary>A wheel on the system clock with the <see cref="DefaultResolution"/>.</summary>
    public TimerWheelScheduler()
        : this(DefaultResolution, TimeProvider.System)
    {
    }

    /// <summary>A wheel that ticks every <paramref name="resolution"/> of <paramref name="timeProvider"/>'s time.</summary>
    /// <param name="resolution">The tick: from 1 ms to 1 s.</param>
    /// <param name="timeProvider">The clock, timestamps and timer (<see cref="TimeProvider.System"/> in production).</param>
    public TimerWheelScheduler(TimeSpan resolution, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, TimeSpan.FromMilliseconds(1));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(resolution, TimeSpan.FromSeconds(1));
        Resolution = resolution;
        _resolutionTicks = resolution.Ticks;
        _time = timeProvider;
        _start = timeProvider.GetTimestamp();
        if (ReferenceEquals(timeProvider, TimeProvider.System))
        {
            // On the real clock the wheel turns on its own thread: one wake-up a tick, no hop through the runtime's timer
            // thread and the thread pool (whose workers spin after each item: half the cost of driving an idle-ish wheel).
            _thread = new Thread(static wheel => ((TimerWheelScheduler)wheel!).Turn()) { IsBackground = true, Name = "Reactive.Management timer wheel" };
            _thread.Start(this);
        }
        else
        {
            _timer = timeProvider.CreateTimer(static wheel => ((TimerWheelScheduler)wheel!).Advance(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            ArmForNextTick();
        }
    }

    /// <summary>How far apart the ticks are: the most an action runs after its due time, besides the tick's own delay.</summary>
    public TimeSpan Resolution { get; }

    /// <summary>Actions waiting in the wheel (a periodic one counts once).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <inheritdoc />
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Schedules <paramref name="action"/> on the next tick.</summary>
    /// <inheritdoc />
    public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action) =>
        Schedule(state, TimeSpan.Zero, action);

    /// <inheritdoc />
    public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) =>
        Schedule(state, dueTime - Now, action);

    /// <inheritdoc />
    public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var entry = new OneShot<TState>(this, state, action);
        Insert(entry, Elapsed() + Math.Max(dueTime.Ticks, 0));
        return entry;
    }

    /// <summary>Runs <paramref name="action"/> every <paramref name="period"/>, first one period from now.</summary>
    /// <inheritdoc />
    public IDisposable SchedulePeriodic<TState>(TState state, TimeSpan period, Func<TState, TState> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        var entry = new Periodic<TState>(this, state, period.Ticks, action);
        Insert(entry, Elapsed() + period.Ticks);
        return entry;
    }

    /// <summary>Rx asks for <see cref="ISchedulerPeriodic"/> this way (so <c>Observable.Interval</c> uses one entry).</summary>
    /// <inheritdoc />
    public object? GetService(Type serviceType) => serviceType == typeof(ISchedulerPeriodic) ? this : null;

    /// <summary>Stops the ticks and drops every waiting action (none runs after this returns, except one running now).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            for (var slot = 0; slot < SlotCount; slot++)
            {
                while (_slots[slot] is { } entry)
                {
                    Unlink(entry);
                    entry.Cancelled = true;
                }
            }
        }

        _timer?.Dispose();
    }

    /// <summary>Time since the wheel started, in <see cref="TimeSpan"/> ticks of the time provider's clock.</summary>
    private long Elapsed() => _time.GetElapsedTime(_start).Ticks;

    private void Insert(Entry entry, long due)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Link(entry, due);
        }
    }

    /// <summary>Puts the entry in the slot of the first tick at or after <paramref name="due"/> that is still to come.</summary>
    private void Link(Entry entry, long due)
    {
        entry.Due = due;
        entry.Tick = Math.Max((due + _resolutionTicks - 1) / _resolutionTicks, _processedTick + 1);
        ref var head = ref _slots[entry.Tick & SlotMask];
        if (head is null)
        {
            entry.Next = entry.Previous = entry;
            head = entry;
        }
        else
        {
            // Appended at the tail: same-tick entries run in the order they were scheduled.
            entry.Next = head;
            entry.Previous = head.Previous;
            head.Previous!.Next = entry;
            head.Previous = entry;
        }

        _count++;
    }

    private void Unlink(Entry entry)
    {
        ref var head = ref _slots[entry.Tick & SlotMask];
        if (entry.Next == entry)
        {
            head = null;
        }
        else
        {
            entry.Previous!.Next = entry.Next;
            entry.Next!.Previous = entry.Previous;
            if (head == entry)
            {
                head = entry.Next;
            }
        }

        entry.Next = entry.Previous = null;
        _count--;
    }

    /// <summary>Cancels an entry: out of its slot if it waits there; a running periodic one is not put back.</summary>
    private void Cancel(Entry entry)
    {
        lock (_gate)
        {
            entry.Cancelled = true;
            if (entry.IsLinked)
            {
                Unlink(entry);
            }
        }
    }

    /// <summary>The timer's callback: runs every tick up to now. One caller at a time; a caller that finds the wheel
    /// busy leaves the work to the one running, which looks at the clock again before it stops.</summary>
    private void Advance()
    {
        while (Interlocked.CompareExchange(ref _advancing, 1, 0) == 0)
        {
            try
            {
                var now = Elapsed() / _resolutionTicks;
                while (Volatile.Read(ref _processedTick) < now)
                {
                    RunTick();
                }
            }
            finally
            {
                Volatile.Write(ref _advancing, 0);
            }

            // Level-triggered: a callback that came while this one ran found the flag set and left; look at the clock.
            if (Elapsed() / _resolutionTicks <= Volatile.Read(ref _processedTick))
            {
                ArmForNextTick();
                return;
            }
        }
    }

    /// <summary>
    /// Arms the runtime timer, once, for the next tick's boundary: a periodic timer would drift off the wheel's grid
    /// (it counts each period from its own late callback), and every heartbeat would inherit that wander as lateness.
    /// </summary>
    private void ArmForNextTick()
    {
        if (_timer is null)
        {
            return;
        }

        var wait = UntilNextTick();
        lock (_gate)
        {
            if (!_disposed)
            {
                _timer.Change(wait, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>The wheel's own thread (on the real clock): sleeps to each tick's boundary and runs it, until disposed.</summary>
    private void Turn()
    {
        while (!Volatile.Read(ref _disposed))
        {
            Thread.Sleep(UntilNextTick());
            Advance();
        }
    }

    private TimeSpan UntilNextTick()
    {
        var elapsed = Elapsed();
        var untilBoundary = ((elapsed / _resolutionTicks) + 1) * _resolutionTicks - elapsed;
        // Timers and sleeps count whole milliseconds and cut the rest: rounded up, the wake-up never comes too early.
        return TimeSpan.FromMilliseconds(Math.Ceiling(TimeSpan.FromTicks(untilBoundary).TotalMilliseconds));
    }

    /// <summary>Takes the due entries of the next tick out of their slot (under the lock), then runs them (outside it).</summary>
    private void RunTick()
    {
        Entry? due = null;
        lock (_gate)
        {
            if (_disposed)
            {
                _processedTick = long.MaxValue;
                return;
            }

            var tick = _processedTick + 1;
            _processedTick = tick;
            if (_slots[tick & SlotMask] is { } head)
            {
                // Walk the ring once; entries of a later turn of the wheel stay. Due ones form a chain through RunNext.
                Entry? last = null;
                var entry = head;
                var end = head.Previous;
                while (true)
                {
                    var next = entry.Next;
                    var wasEnd = entry == end;
                    if (entry.Tick <= tick)
                    {
                        Unlink(entry);
                        entry.RunNext = null;
                        if (last is null)
                        {
                            due = entry;
                        }
                        else
                        {
                            last.RunNext = entry;
                        }

                        last = entry;
                    }

                    if (wasEnd)
                    {
                        break;
                    }

                    entry = next!;
                }
            }
        }

        if (due is null)
        {
            return;
        }

        // Run them outside the lock, in order (one may cancel a later one: it is skipped).
        var periodicRan = false;
        for (var entry = due; entry is not null; entry = entry.RunNext)
        {
            if (!Volatile.Read(ref entry.Cancelled))
            {
                entry.Run();
            }

            periodicRan |= entry.IsPeriodic;
        }

        // Put the periodic ones back, all under one lock and one look at the clock (per tick, not per entry).
        var now = periodicRan ? Elapsed() : 0;
        lock (_gate)
        {
            while (due is not null)
            {
                var entry = due;
                due = entry.RunNext;
                entry.RunNext = null;
                if (entry.IsPeriodic && !entry.Cancelled && !_disposed)
                {
                    // Keep the phase (no drift). A run the tick fell too far behind for (its next due time has passed)
                    // runs once, on the next tick, and the period starts again from then: never back to back.
                    var next = entry.Due + entry.Period;
                    Link(entry, next <= now ? now : next);
                }
            }
        }
    }

    /// <summary>One action in the wheel; it is also the disposable that cancels it.</summary>
    private abstract class Entry(TimerWheelScheduler wheel, long period) : IDisposable
    {
        public Entry? Next;
        public Entry? Previous;
        public Entry? RunNext;
        public long Due;
        public long Tick;
        public bool Cancelled;

        /// <summary>In <see cref="TimeSpan"/> ticks; 0 for an action that runs once.</summary>
        public long Period { get; } = period;

        public bool IsPeriodic => Period > 0;

        /// <summary>In a slot's ring (every linked entry has a neighbour, if only itself).</summary>
        public bool IsLinked => Next is not null;

        protected TimerWheelScheduler Wheel { get; } = wheel;

        public abstract void Run();

        public virtual void Dispose() => Wheel.Cancel(this);
    }

    private sealed class OneShot<TState>(TimerWheelScheduler wheel, TState state, Func<IScheduler, TState, IDisposable> action) : Entry(wheel, period: 0)
    {
        // What the action returned (Rx's recursive scheduling hands back the next step): disposed with the entry.
        private SingleAssignmentDisposableValue _returned;

        public override void Run() => _returned.Disposable = action(Wheel, state);

        public override void Dispose()
        {
            base.Dispose();
            _returned.Dispose();
        }
    }

    private sealed class Periodic<TState>(TimerWheelScheduler wheel, TState state, long period, Func<TState, TState> action) : Entry(wheel, period)
    {
        private TState _state = state;

        public override void Run() => _state = action(_state);
    }
}
