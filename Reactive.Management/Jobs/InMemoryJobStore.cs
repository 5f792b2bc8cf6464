using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>Jobs in memory, lost with the process: for tests and throw-away demos.</summary>
/// <remarks>Every operation completes synchronously, so it runs under virtual time without real waits.</remarks>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, (long Sequence, Job Job)> _jobs = [];
    private readonly Dictionary<Guid, JobBatch> _batches = [];
    private long _sequence;

    /// <inheritdoc />
    public ValueTask AddAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        lock (_gate)
        {
            if (job.IdempotencyKey is not null && FindByIdempotencyKey(job) is not null)
            {
                throw new InvalidOperationException($"Peer {job.PeerId} has a job with the idempotency key '{job.IdempotencyKey}' already.");
            }

            Insert(job);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(job.IdempotencyKey);
        lock (_gate)
        {
            if (FindByIdempotencyKey(job) is { } earlier)
            {
                return ValueTask.FromResult(earlier);
            }

            Insert(job);
            return ValueTask.FromResult(job);
        }
    }

    // Under _gate.
    private void Insert(Job job)
    {
        if (!_jobs.TryAdd(job.Id, (++_sequence, job)))
        {
            throw new InvalidOperationException($"A job with the id {job.Id} exists already.");
        }
    }

    private Job? FindByIdempotencyKey(Job job) =>
        _jobs.Values.Select(entry => entry.Job).FirstOrDefault(stored => stored.PeerId == job.PeerId && stored.IdempotencyKey == job.IdempotencyKey);

    /// <inheritdoc />
    public ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_jobs.TryGetValue(id, out var entry) ? entry.Job : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryUpdateAsync(Job updated, IReadOnlyCollection<JobState> expectedStates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(updated);
        ArgumentNullException.ThrowIfNull(expectedStates);
        lock (_gate)
        {
            if (!_jobs.TryGetValue(updated.Id, out var entry) || !expectedStates.Contains(entry.Job.State))
            {
                return ValueTask.FromResult(false);
            }

            _jobs[updated.Id] = (entry.Sequence, updated);
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Guid>> ListUnfinishedIdsAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default) =>
        [.. (await ListUnfinishedAsync(peer, cancellationToken).ConfigureAwait(false)).Select(job => job.Id)];

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<Job>>(
            [
                .. _jobs.Values
                    .Where(entry => !entry.Job.IsFinished && (peer is null || entry.Job.PeerKey.Equals(peer)))
                    .OrderBy(entry => entry.Job.CreatedAt)
                    .ThenBy(entry => entry.Sequence)
                    .Select(entry => entry.Job),
            ]);
        }
    }

    /// <inheritdoc />
    public ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var all = _jobs.Values
                .Where(entry => entry.Job.PeerId == peerId)
                .OrderByDescending(entry => entry.Job.CreatedAt)
                .ThenByDescending(entry => entry.Sequence)
                .Select(entry => entry.Job)
                .ToList();
            return ValueTask.FromResult<(IReadOnlyList<Job>, int)>(([.. all.Skip(offset).Take(limit)], all.Count));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryMarkSentAsync(Job sent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sent);
        lock (_gate)
        {
            if (!_jobs.TryGetValue(sent.Id, out var entry) || entry.Job.State != JobState.Pending || !BatchHasRoom(sent.BatchId))
            {
                return ValueTask.FromResult(false);
            }

            _jobs[sent.Id] = (entry.Sequence, sent);
            return ValueTask.FromResult(true);
        }
    }

    // Under _gate.
    private bool BatchHasRoom(Guid? batchId)
    {
        if (batchId is not { } id)
        {
            return true;
        }

        if (!_batches.TryGetValue(id, out var batch) || batch.CancelledAt is not null)
        {
            return false;
        }

        return batch.MaxInFlight is not { } cap || _jobs.Values.Count(entry => entry.Job.BatchId == id && entry.Job.State == JobState.Sent) < cap;
    }

    /// <inheritdoc />
    public ValueTask AddBatchAsync(JobBatch batch, IReadOnlyList<Job> jobs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(jobs);
        lock (_gate)
        {
            if (_batches.ContainsKey(batch.Id) || jobs.Any(job => _jobs.ContainsKey(job.Id)) || jobs.DistinctBy(job => job.Id).Count() != jobs.Count)
            {
                throw new InvalidOperationException($"A batch with the id {batch.Id}, or one of its jobs' ids, exists already.");
            }

            _batches.Add(batch.Id, batch);
            foreach (var job in jobs)
            {
                Insert(job);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<JobBatch?> FindBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_batches.GetValueOrDefault(id));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyDictionary<JobState, int>> CountBatchAsync(Guid id, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyDictionary<JobState, int>>(
                _jobs.Values.Where(entry => entry.Job.BatchId == id).GroupBy(entry => entry.Job.State).ToDictionary(group => group.Key, group => group.Count()));
        }
    }

    /// <inheritdoc />
    public ValueTask<JobBatch?> CancelBatchAsync(Guid id, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_batches.TryGetValue(id, out var batch))
            {
                return ValueTask.FromResult<JobBatch?>(null);
            }

            if (batch.CancelledAt is null)
            {
                batch = _batches[id] = batch with { CancelledAt = at };
            }

            return ValueTask.FromResult<JobBatch?>(batch);
        }
    }

    /// <inheritdoc />
    public ValueTask<JobPage> QueryAsync(JobQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        lock (_gate)
        {
            var page = _jobs.Values
                .Select(entry => entry.Job)
                .Where(job =>
                    (query.State is null || job.State == query.State) &&
                    (query.PeerId is null || job.PeerId == query.PeerId) &&
                    (query.BatchId is null || job.BatchId == query.BatchId) &&
                    (query.CreatedAfter is null || job.CreatedAt > query.CreatedAfter) &&
                    (query.After is not { } after || after.Precedes(job)))
                .OrderByDescending(job => job.CreatedAt)
                .ThenByDescending(job => job.Id, Comparer<Guid>.Create(JobCursor.CompareIds))
                .Take(query.Limit + 1)
                .ToList();
            return ValueTask.FromResult(JobPage.FromRows(page, query.Limit));
        }
    }
}
