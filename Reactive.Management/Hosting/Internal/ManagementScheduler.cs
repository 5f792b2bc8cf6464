using System.Reactive.Concurrency;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The schedulers the server runs on, wrapped so that registering them does not claim the application's own
/// <see cref="IScheduler"/> service: <see cref="Scheduler"/> stamps and polls, <see cref="Timers"/> times what every
/// stream and job has one of (heartbeats, stuck writes, hello and job deadlines).
/// </summary>
internal sealed record ManagementScheduler(IScheduler Scheduler, IScheduler Timers)
{
    /// <summary>One scheduler for everything (a <c>TestScheduler</c> in tests).</summary>
    public ManagementScheduler(IScheduler scheduler)
        : this(scheduler, scheduler)
    {
    }
}
