using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Microsoft.Extensions.Logging;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Jobs;

/// <summary>
/// The job board's deadlines: a job still pending <see cref="JobTimeouts.PendingTimeToLive"/> after its creation, or
/// unanswered <see cref="JobTimeouts.AnswerTimeout"/> after its first send, becomes <see cref="JobState.TimedOut"/>.
/// </summary>
/// <remarks>
/// Timed on the injected <see cref="IScheduler"/> (exact in virtual time; the host's timer wheel in production, so an
/// unfinished job costs an entry in the wheel, not a runtime timer). A deadline holds a job's id and state only, never
/// the job: a waiting job's workload stays in the store. The expiry is a conditional update, so it cannot overwrite an
/// answer or a cancellation that won the race.
/// </remarks>
internal sealed class JobDeadlines(IJobStore store, IScheduler scheduler, JobTimeouts timeouts, ILogger logger, Action<Job> expired) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, IDisposable> _armed = [];
    private readonly CancellationTokenSource _disposed = new();

    /// <summary>Arms the deadline of the job's current state (nothing for a finished job), replacing the previous one.</summary>
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
        var deadline = new SingleAssignmentDisposable();
        deadline.Disposable = scheduler.Schedule(due, () => _ = ExpireAsync(id, state, deadline));
        IDisposable? replaced;
        lock (_gate)
        {
            _armed.Remove(id, out replaced);
            _armed.Add(id, deadline);
        }

        // The expiry re-reads the job and checks its state, so a replaced deadline that fires anyway changes nothing.
        replaced?.Dispose();
    }

    /// <summary>Stops the deadline of a job that finished.</summary>
    public void Disarm(Guid id)
    {
        IDisposable? deadline;
        lock (_gate)
        {
            _armed.Remove(id, out deadline);
        }

        deadline?.Dispose();
    }

    public void Dispose()
    {
        List<IDisposable> deadlines;
        lock (_gate)
        {
            deadlines = [.. _armed.Values];
            _armed.Clear();
        }

        deadlines.ForEach(deadline => deadline.Dispose());
        _disposed.Cancel();
    }

    private async Task ExpireAsync(Guid id, JobState expected, IDisposable deadline)
    {
        try
        {
            lock (_gate)
            {
                // Forgotten once fired, unless a newer deadline of the job (its next state) has replaced it.
                if (_armed.TryGetValue(id, out var armed) && armed == deadline)
                {
                    _armed.Remove(id);
                }
            }

            var job = await store.FindAsync(id, _disposed.Token).ConfigureAwait(false);
            if (job is null || job.State != expected)
            {
                return;
            }

            var reason = expected == JobState.Pending
                ? $"not delivered within {timeouts.PendingTimeToLive} (the peer did not connect)"
                : $"not answered within {timeouts.AnswerTimeout} of being sent";
            var timedOut = job with { State = JobState.TimedOut, CompletedAt = scheduler.Now, FailedReason = reason };
            if (await store.TryUpdateAsync(timedOut, [expected], _disposed.Token).ConfigureAwait(false))
            {
                expired(timedOut);
            }
        }
        catch (OperationCanceledException) when (_disposed.IsCancellationRequested)
        {
            // The board is gone (the host is stopping): the job keeps its state and is re-armed at the next start.
        }
        catch (Exception exception)
        {
            Log.DeadlineFailed(logger, id, exception);
        }
    }
}
