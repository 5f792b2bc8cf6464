using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Linq;

namespace Reactive.Management.Streams;

/// <summary>Heartbeats that fill the silences of a sequence.</summary>
public static class HeartbeatObservableExtensions
{
    /// <summary>
    /// Merges <paramref name="source"/> with a heartbeat that fires after every <paramref name="interval"/> of
    /// silence, timed on the default scheduler.
    /// </summary>
    /// <remarks>See <see cref="WithHeartbeat{T}(IObservable{T}, TimeSpan, Func{T}, IScheduler)"/> for the timing.</remarks>
    public static IObservable<T> WithHeartbeat<T>(this IObservable<T> source, TimeSpan interval, Func<T> heartbeat) =>
        source.WithHeartbeat(interval, heartbeat, DefaultScheduler.Instance);

    /// <summary>
    /// Merges <paramref name="source"/> with a heartbeat that fires after every <paramref name="interval"/> of
    /// silence.
    /// </summary>
    /// <param name="source">The real items (jobs).</param>
    /// <param name="interval">Silence before a heartbeat; must be positive.</param>
    /// <param name="heartbeat">Makes one heartbeat item; called once per heartbeat.</param>
    /// <param name="scheduler">Times the heartbeats.</param>
    /// <remarks>
    /// With a subscription at t0 and no items, heartbeats come at t0 + interval, t0 + 2·interval, … .
    /// An item at t is passed on at once and restarts the heartbeat timer (<c>Switch</c>): the next
    /// heartbeat comes at t + interval, then every interval after that. The result completes or fails when
    /// <paramref name="source"/> does, and disposing it stops the timer.
    /// </remarks>
    public static IObservable<T> WithHeartbeat<T>(this IObservable<T> source, TimeSpan interval, Func<T> heartbeat, IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return source.WithHeartbeat(() => Observable.Interval(interval, scheduler).Select(_ => heartbeat()));
    }

    /// <summary>
    /// Merges <paramref name="source"/> with a heartbeat that fires after every <paramref name="interval"/> of
    /// silence, except that the first one, if no item comes before it, fires after <paramref name="firstAfter"/>.
    /// </summary>
    /// <param name="source">The real items (jobs).</param>
    /// <param name="interval">Silence before a heartbeat; must be positive.</param>
    /// <param name="heartbeat">Makes one heartbeat item; called once per heartbeat.</param>
    /// <param name="scheduler">Times the heartbeats.</param>
    /// <param name="firstAfter">
    /// Silence before the first heartbeat: more than zero and at most <paramref name="interval"/>. A random value per
    /// subscription (jitter) spreads the heartbeats of many subscriptions started at once.
    /// </param>
    /// <remarks>
    /// With a subscription at t0 and no items, heartbeats come at t0 + firstAfter, then every interval after that
    /// (t0 + firstAfter + interval, …). An item at t is passed on at once and restarts the heartbeat timer: the next
    /// heartbeat comes at t + interval, as in <see cref="WithHeartbeat{T}(IObservable{T}, TimeSpan, Func{T}, IScheduler)"/>.
    /// So streams that all start at one instant (a mass reconnect) keep the spread of their first heartbeats for as long
    /// as they stay silent, instead of beating in the same instant forever after.
    /// </remarks>
    public static IObservable<T> WithHeartbeat<T>(this IObservable<T> source, TimeSpan interval, Func<T> heartbeat, IScheduler scheduler, TimeSpan firstAfter)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(firstAfter, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstAfter, interval);
        return Observable.Defer(() =>
        {
            // Per subscription: the first heartbeat sequence (made at subscription) starts early; every reset does not.
            var started = false;
            return source.WithHeartbeat(() =>
            {
                var timer = started ? Observable.Interval(interval, scheduler) : Observable.Timer(firstAfter, interval, scheduler);
                started = true;
                return timer.Select(_ => heartbeat());
            });
        });
    }

    /// <summary>
    /// Merges <paramref name="source"/> with a heartbeat sequence that is started at subscription and started
    /// afresh (the previous one disposed) after every item of <paramref name="source"/>.
    /// </summary>
    /// <param name="source">The real items.</param>
    /// <param name="heartbeats">Makes a fresh heartbeat sequence, e.g. an <c>Observable.Interval</c>.</param>
    /// <remarks>
    /// The reset is <c>Select(_ =&gt; heartbeats()).Switch()</c> over the source's items, with one start at
    /// subscription (<c>Prepend</c>). Each item is emitted before the heartbeat sequence is replaced. The result ends with
    /// <paramref name="source"/>: the live heartbeat sequence is disposed then.
    /// </remarks>
    public static IObservable<T> WithHeartbeat<T>(this IObservable<T> source, Func<IObservable<T>> heartbeats)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(heartbeats);
        // Lean on purpose (a host holds one of these per peer): Prepend, not StartWith (a Concat with its own stack),
        // and the end signal is DefaultIfEmpty over IgnoreElements (fires on completion, passes an error on).
        return source.Publish(items =>
        {
            var sourceEnded = items.IgnoreElements().DefaultIfEmpty();
            var restartingHeartbeats = items
                .Select(_ => Unit.Default)
                .Prepend(Unit.Default)
                .Select(_ => heartbeats())
                .Switch()
                .TakeUntil(sourceEnded);
            return items.Merge(restartingHeartbeats);
        });
    }
}
