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

    /// <summary>
    /// Stores a job <paramref name="sent"/> (state <see cref="JobState.Sent"/>) only if it is stored as pending and, when it
    /// belongs to a batch, that batch is not cancelled and has fewer than <see cref="JobBatch.MaxInFlight"/> jobs sent.
    /// </summary>
    /// <remarks>
    /// The cap holds across every writer of the store (several replicas too): the check and the update are one step.
    /// The default handles jobs outside a batch with <see cref="TryUpdateAsync"/>; a store that keeps batches overrides it.
    /// </remarks>
    /// <returns>true when the job is now stored as sent.</returns>
    ValueTask<bool> TryMarkSentAsync(Job sent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sent);
        return sent.BatchId is null
            ? TryUpdateAsync(sent, [JobState.Pending], cancellationToken)
            : throw new NotSupportedException($"{GetType().Name} does not keep batches.");
    }

    /// <summary>
    /// Stores <paramref name="batch"/> and its <paramref name="jobs"/> (each with <see cref="Job.BatchId"/> set to its id)
    /// in one durable write: all or none.
    /// </summary>
    /// <exception cref="InvalidOperationException">A job or batch with the same id exists.</exception>
    ValueTask AddBatchAsync(JobBatch batch, IReadOnlyList<Job> jobs, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not keep batches.");

    /// <summary>The batch with this id, or null.</summary>
    ValueTask<JobBatch?> FindBatchAsync(Guid id, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not keep batches.");

    /// <summary>How many of a batch's jobs are in each state (states with none are left out).</summary>
    ValueTask<IReadOnlyDictionary<JobState, int>> CountBatchAsync(Guid id, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not keep batches.");

    /// <summary>
    /// Marks the batch cancelled at <paramref name="at"/> (if it was not already), so that none of its pending jobs is
    /// sent any more.
    /// </summary>
    /// <returns>The batch as stored, or null when no batch has the id.</returns>
    ValueTask<JobBatch?> CancelBatchAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not keep batches.");

    /// <summary>One page of the jobs <paramref name="query"/> selects, newest first (creation time, then id).</summary>
    ValueTask<JobPage> QueryAsync(JobQuery query, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} does not list jobs across peers.");
}
