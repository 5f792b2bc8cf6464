using System.Reactive.Concurrency;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The scheduler the server times heartbeats on, wrapped so that registering it does not claim the
/// application's own <see cref="IScheduler"/> service.
/// </summary>
internal sealed record ManagementScheduler(IScheduler Scheduler);
