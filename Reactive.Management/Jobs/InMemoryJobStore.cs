using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>Jobs in memory, lost with the process: for tests and throw-away demos.</summary>
/// <remarks>Every operation completes synchronously, so it runs under virtual time without real waits.</remarks>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, (long Sequence, Job Job)> _jobs = [];
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
}
