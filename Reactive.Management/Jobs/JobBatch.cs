namespace Reactive.Management.Jobs;

/// <summary>
/// A fan-out: one job per peer, created together in one durable write, with an optional cap on how many of them are
/// sent and unanswered at once.
/// </summary>
/// <param name="Id">The batch's id (each of its jobs carries it in <see cref="Job.BatchId"/>).</param>
/// <param name="CreatedAt">When it was created (its jobs have the same time).</param>
/// <param name="JobCount">How many jobs it holds: one per peer, 1 to <see cref="MaxJobs"/>.</param>
/// <param name="MaxInFlight">
/// At most this many of its jobs are <see cref="JobState.Sent"/> at once, across every replica (the store enforces it
/// when a job is marked sent); the rest wait <see cref="JobState.Pending"/> and go out as earlier ones finish. Null (the
/// default) for no cap; otherwise 1 to <see cref="MaxInFlightLimit"/>.
/// </param>
/// <param name="CancelledAt">When it was cancelled; none of its pending jobs is sent after that.</param>
public sealed record JobBatch(Guid Id, DateTimeOffset CreatedAt, int JobCount, int? MaxInFlight, DateTimeOffset? CancelledAt = null)
{
    /// <summary>The most jobs (peers) one batch may hold: 10,000.</summary>
    public const int MaxJobs = 10_000;

    /// <summary>The largest <see cref="MaxInFlight"/>: 10,000 (the smallest is 1; none means no cap).</summary>
    public const int MaxInFlightLimit = 10_000;
}
