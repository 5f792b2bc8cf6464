using Microsoft.Reactive.Testing;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>Virtual-time helpers: tests read in seconds, the <see cref="TestScheduler"/> counts ticks.</summary>
internal static class VirtualTime
{
    public static long Seconds(double seconds) => TimeSpan.FromSeconds(seconds).Ticks;

    /// <summary>
    /// Subscribes at virtual time 0 (TestScheduler.Start would subscribe one tick later), runs the clock to
    /// <paramref name="disposeAtSeconds"/> and disposes the subscription there.
    /// </summary>
    public static ITestableObserver<T> Run<T>(this TestScheduler scheduler, Func<IObservable<T>> create, double disposeAtSeconds)
    {
        var observer = scheduler.CreateObserver<T>();
        var subscription = create().Subscribe(observer);
        scheduler.AdvanceTo(Seconds(disposeAtSeconds));
        subscription.Dispose();
        return observer;
    }
}
