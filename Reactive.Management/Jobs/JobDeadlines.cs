using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Microsoft.Extensions.Logging;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Jobs;

/// <summary>
/// The job board's deadlines: a job still pending <see cref="JobTimeouts.PendingTimeToLive"/> after its creation, or
/// unanswered <see cref="JobTimeouts.AnswerTimeout"/> after its first send, becomes <see cref="JobState.TimedOut"/>.
/// </summary>
/// <remarks>
/// Timed on the injected <see cref="IScheduler"/> (exact in virtual time). A timer holds a job's id and state only, never
/// the job: a waiting job's workload stays in the store. The expiry is a conditional update, so it cannot overwrite an
/// answer or a cancellation that won the race.
/// </remarks>
internal sealed class JobDeadlines(IJobStore store, IScheduler scheduler, JobTimeouts timeouts, ILogger logger, Action<Job> expired) : IDisposable
{
    private readonly ConcurrentDictionary<Guid, CompositeDisposable> _armed = new();

    /// <summary>Arms the deadline of the job's current state (nothing for a finished job).</summary>
    public void Arm(Job job)
    {
        if (job.IsFinished)
        {
            return;
        }

        var due = job.State == JobState.Pending
            ? job.CreatedAt + timeouts.PendingTimeToLive
            : (job.SentAt ?? job.CreatedAt) + timeouts.AnswerTimeout;
        var (id, state) = (job.Id, job.State);
        var deadline = Observable.Timer(due, scheduler)
            .SelectMany(_ => Observable.FromAsync(ct => ExpireAsync(id, state, ct)))
            .Subscribe(_ => { }, error => Log.DeadlineFailed(logger, id, error));
        _armed.AddOrUpdate(id, _ => [deadline], (_, existing) =>
        {
            existing.Add(deadline);
            return existing;
        });
    }

    /// <summary>Stops the deadlines of a job that finished.</summary>
    public void Disarm(Guid id)
    {
        if (_armed.TryRemove(id, out var deadlines))
        {
            deadlines.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var deadline in _armed.Values)
        {
            deadline.Dispose();
        }

        _armed.Clear();
    }

    private async Task ExpireAsync(Guid id, JobState expected, CancellationToken cancellationToken)
    {
        var job = await store.FindAsync(id, cancellationToken).ConfigureAwait(false);
        if (job is null || job.State != expected)
        {
            return;
        }

        var reason = expected == JobState.Pending
            ? $"not delivered within {timeouts.PendingTimeToLive} (the peer did not connect)"
            : $"not answered within {timeouts.AnswerTimeout} of being sent";
        var timedOut = job with { State = JobState.TimedOut, CompletedAt = scheduler.Now, FailedReason = reason };
        if (await store.TryUpdateAsync(timedOut, [expected], cancellationToken).ConfigureAwait(false))
        {
            expired(timedOut);
        }
    }
}
