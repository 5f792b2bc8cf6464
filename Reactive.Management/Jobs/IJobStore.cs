using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>
/// Where jobs are kept. The store is the truth: every change is a conditional update, so two writers that race
/// (an answer and a time-out, say) cannot both win.
/// </summary>
/// <remarks>Implementations must have made a write durable when its task completes.</remarks>
public interface IJobStore
{
    /// <summary>Stores a new job.</summary>
    /// <exception cref="InvalidOperationException">A job with the same id, or the same peer and idempotency key, exists.</exception>
    ValueTask AddAsync(Job job, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores <paramref name="job"/> unless its peer already has a job with the same
    /// <see cref="Job.IdempotencyKey"/> (which must be set); one of concurrent callers with the same key wins.
    /// </summary>
    /// <returns>The stored job: <paramref name="job"/> itself, or the earlier one with the key.</returns>
    ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default);

    /// <summary>The job with this id, or null.</summary>
    ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Replaces the job with <paramref name="updated"/> (same id) only if its stored state is one of
    /// <paramref name="expectedStates"/>.
    /// </summary>
    /// <returns>true when the update was made.</returns>
    ValueTask<bool> TryUpdateAsync(Job updated, IReadOnlyCollection<JobState> expectedStates, CancellationToken cancellationToken = default);

    /// <summary>The unfinished (pending or sent) jobs, oldest first: of one peer, or of all peers when <paramref name="peer"/> is null.</summary>
    ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default);

    /// <summary>
    /// The ids of one peer's unfinished jobs, oldest first: what a stream that opens, or has room again, goes through
    /// without holding every workload in memory at once.
    /// </summary>
    /// <remarks>The default reads the jobs and keeps their ids; the built-in stores read only the ids.</remarks>
    async ValueTask<IReadOnlyList<Guid>> ListUnfinishedIdsAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default) =>
        [.. (await ListUnfinishedAsync(peer, cancellationToken).ConfigureAwait(false)).Select(job => job.Id)];

    /// <summary>One page of a peer's jobs, newest first, and how many jobs the peer has in all.</summary>
    ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default);
}
