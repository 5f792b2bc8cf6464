using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Storage;
using Reactive.Management.Protocol;
using Xunit;

namespace Reactive.Management.Tests.Jobs;

/// <summary>What every <see cref="IJobStore"/> must do; each store runs this same suite.</summary>
public abstract class JobStoreContract : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 8, 0, 0, TimeSpan.Zero);
    private readonly WireGuardKeyPair _peerA = WireGuardKeyPair.Generate();
    private readonly WireGuardKeyPair _peerB = WireGuardKeyPair.Generate();

    protected abstract IJobStore Store { get; }

    [Fact]
    public async Task A_stored_job_reads_back_field_for_field()
    {
        var job = NewJob(_peerA, T0) with
        {
            Bundle = new BundleParameters { BundleFor = true, BundleForTime = 2, LogFileCount = 10, Anonymize = true, AnonymizeLevel = "strict", UploadUrl = "https://uploads.example.com/b" },
            CreatedBy = "oncall",
        };

        await Store.AddAsync(job);

        Assert.Equal(job, await Store.FindAsync(job.Id));
        Assert.Null(await Store.FindAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task Who_cancelled_a_job_is_stored_with_its_cancellation()
    {
        var job = NewJob(_peerA, T0) with { CreatedBy = "dashboard" };
        await Store.AddAsync(job);
        var cancelled = job with { State = JobState.Cancelled, CompletedAt = T0.AddSeconds(1), FailedReason = "cancelled through the API", CancelledBy = "oncall" };

        Assert.True(await Store.TryUpdateAsync(cancelled, [JobState.Pending]));

        Assert.Equal(cancelled, await Store.FindAsync(job.Id));
    }

    [Fact]
    public async Task A_second_job_with_the_same_id_is_refused()
    {
        var job = NewJob(_peerA, T0);
        await Store.AddAsync(job);

        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.AddAsync(job).AsTask());
    }

    [Fact]
    public async Task An_idempotency_key_stores_one_job_per_peer_however_often_and_concurrently_it_is_sent()
    {
        var first = NewJob(_peerA, T0) with { IdempotencyKey = "retry-1" };
        var retries = Enumerable.Range(0, 8).Select(i => NewJob(_peerA, T0.AddSeconds(i + 1)) with { IdempotencyKey = "retry-1" }).ToList();
        var otherPeer = NewJob(_peerB, T0) with { IdempotencyKey = "retry-1" };

        Assert.Equal(first, await Store.AddOrFindByIdempotencyKeyAsync(first));
        var stored = await Task.WhenAll(retries.Select(retry => Store.AddOrFindByIdempotencyKeyAsync(retry).AsTask()));

        Assert.All(stored, job => Assert.Equal(first, job));
        Assert.Equal(otherPeer, await Store.AddOrFindByIdempotencyKeyAsync(otherPeer));
        Assert.Equal(first, await Store.FindAsync(first.Id));
        foreach (var retry in retries)
        {
            Assert.Null(await Store.FindAsync(retry.Id));
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.AddAsync(retries[0]).AsTask());
    }

    [Fact]
    public async Task An_update_is_made_only_from_an_expected_state()
    {
        var job = NewJob(_peerA, T0);
        await Store.AddAsync(job);
        var sent = job with { State = JobState.Sent, SentAt = T0.AddSeconds(1) };
        var done = sent with { State = JobState.Succeeded, CompletedAt = T0.AddSeconds(2), UploadKey = "k" };
        var timedOut = sent with { State = JobState.TimedOut, CompletedAt = T0.AddSeconds(3), FailedReason = "late" };

        Assert.False(await Store.TryUpdateAsync(done, [JobState.Sent]));
        Assert.True(await Store.TryUpdateAsync(sent, [JobState.Pending]));
        Assert.True(await Store.TryUpdateAsync(done, [JobState.Sent]));
        Assert.False(await Store.TryUpdateAsync(timedOut, [JobState.Pending, JobState.Sent]));
        Assert.False(await Store.TryUpdateAsync(NewJob(_peerA, T0), [JobState.Pending]));

        Assert.Equal(done, await Store.FindAsync(job.Id));
    }

    [Fact]
    public async Task Unfinished_jobs_are_listed_oldest_first_per_peer_or_for_all()
    {
        var older = NewJob(_peerA, T0);
        var newer = NewJob(_peerA, T0.AddMinutes(1)) with { State = JobState.Sent, SentAt = T0.AddMinutes(2) };
        var finished = NewJob(_peerA, T0.AddMinutes(2)) with { State = JobState.Cancelled, CompletedAt = T0.AddMinutes(3) };
        var otherPeers = NewJob(_peerB, T0.AddSeconds(30));
        foreach (var job in new[] { newer, finished, otherPeers, older })
        {
            await Store.AddAsync(job);
        }

        Assert.Equal([older, newer], await Store.ListUnfinishedAsync(_peerA.PublicKey));
        Assert.Equal([older, otherPeers, newer], await Store.ListUnfinishedAsync(null));
        Assert.Equal([older.Id, newer.Id], await Store.ListUnfinishedIdsAsync(_peerA.PublicKey));
    }

    [Fact]
    public async Task Jobs_created_in_the_same_instant_keep_their_order()
    {
        var jobs = Enumerable.Range(0, 5).Select(_ => NewJob(_peerA, T0)).ToList();
        foreach (var job in jobs)
        {
            await Store.AddAsync(job);
        }

        Assert.Equal(jobs, await Store.ListUnfinishedAsync(_peerA.PublicKey));
        Assert.Equal(jobs.Select(job => job.Id), await Store.ListUnfinishedIdsAsync(_peerA.PublicKey));
    }

    [Fact]
    public async Task A_peers_jobs_page_newest_first_with_the_total()
    {
        var jobs = Enumerable.Range(0, 7).Select(i => NewJob(_peerA, T0.AddMinutes(i))).ToList();
        foreach (var job in jobs)
        {
            await Store.AddAsync(job);
        }

        await Store.AddAsync(NewJob(_peerB, T0));

        var (first, total) = await Store.ListByPeerAsync("peer-" + _peerA.PublicKey, 0, 3);
        var (last, _) = await Store.ListByPeerAsync("peer-" + _peerA.PublicKey, 6, 3);
        var (beyond, _) = await Store.ListByPeerAsync("peer-" + _peerA.PublicKey, 10, 3);

        Assert.Equal(7, total);
        Assert.Equal([jobs[6], jobs[5], jobs[4]], first);
        Assert.Equal([jobs[0]], last);
        Assert.Empty(beyond);
    }

    [Fact]
    public async Task A_batch_and_its_jobs_are_stored_together_and_counted_per_state()
    {
        var (batch, jobs) = NewBatch(12, maxInFlight: 5);

        await Store.AddBatchAsync(batch, jobs);

        Assert.Equal(batch, await Store.FindBatchAsync(batch.Id));
        Assert.Null(await Store.FindBatchAsync(Guid.NewGuid()));
        Assert.Equal(jobs[3], await Store.FindAsync(jobs[3].Id));
        Assert.Equal(new Dictionary<JobState, int> { [JobState.Pending] = 12 }, await Store.CountBatchAsync(batch.Id));
        Assert.True(await Store.TryMarkSentAsync(jobs[0] with { State = JobState.Sent, SentAt = T0.AddSeconds(1) }));
        Assert.True(await Store.TryUpdateAsync(jobs[1] with { State = JobState.Cancelled, CompletedAt = T0.AddSeconds(1) }, [JobState.Pending]));
        Assert.Equal(
            new Dictionary<JobState, int> { [JobState.Pending] = 10, [JobState.Sent] = 1, [JobState.Cancelled] = 1 },
            await Store.CountBatchAsync(batch.Id));
    }

    [Fact]
    public async Task A_batch_whose_job_id_is_taken_stores_nothing()
    {
        var taken = NewJob(_peerA, T0);
        await Store.AddAsync(taken);
        var (batch, jobs) = NewBatch(3, maxInFlight: null);
        jobs[2] = jobs[2] with { Id = taken.Id };

        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.AddBatchAsync(batch, jobs).AsTask());

        Assert.Null(await Store.FindBatchAsync(batch.Id));
        Assert.Null(await Store.FindAsync(jobs[0].Id));
        Assert.Empty(await Store.CountBatchAsync(batch.Id));
    }

    [Fact]
    public async Task Concurrent_sends_of_a_batch_never_pass_its_cap_and_a_finished_job_makes_room_for_one()
    {
        var (batch, jobs) = NewBatch(60, maxInFlight: 7);
        await Store.AddBatchAsync(batch, jobs);

        // Every job at once, as many streams (or replicas) would: the store lets exactly the cap through.
        var marked = await Task.WhenAll(jobs.Select(job => Task.Run(() => Store.TryMarkSentAsync(job with { State = JobState.Sent, SentAt = T0.AddSeconds(1) }).AsTask())));

        Assert.Equal(7, marked.Count(sent => sent));
        Assert.Equal(7, (await Store.CountBatchAsync(batch.Id))[JobState.Sent]);
        var sent = jobs.Where((_, i) => marked[i]).ToList();
        var waiting = jobs.Where((_, i) => !marked[i]).ToList();
        Assert.False(await Store.TryMarkSentAsync(waiting[0] with { State = JobState.Sent, SentAt = T0.AddSeconds(2) }));

        Assert.True(await Store.TryUpdateAsync(sent[0] with { State = JobState.Succeeded, CompletedAt = T0.AddSeconds(3) }, [JobState.Sent]));
        var refilled = await Task.WhenAll(waiting.Take(5).Select(job => Task.Run(() => Store.TryMarkSentAsync(job with { State = JobState.Sent, SentAt = T0.AddSeconds(4) }).AsTask())));

        Assert.Equal(1, refilled.Count(again => again));
        Assert.Equal(7, (await Store.CountBatchAsync(batch.Id))[JobState.Sent]);
    }

    [Fact]
    public async Task A_cancelled_batch_sends_nothing_more_and_a_job_outside_a_batch_has_no_cap()
    {
        var (batch, jobs) = NewBatch(3, maxInFlight: null);
        await Store.AddBatchAsync(batch, jobs);
        Assert.True(await Store.TryMarkSentAsync(jobs[0] with { State = JobState.Sent, SentAt = T0.AddSeconds(1) }));

        var cancelled = await Store.CancelBatchAsync(batch.Id, T0.AddSeconds(2));
        var again = await Store.CancelBatchAsync(batch.Id, T0.AddSeconds(3));

        Assert.Equal(batch with { CancelledAt = T0.AddSeconds(2) }, cancelled);
        Assert.Equal(cancelled, again);
        Assert.Null(await Store.CancelBatchAsync(Guid.NewGuid(), T0));
        Assert.False(await Store.TryMarkSentAsync(jobs[1] with { State = JobState.Sent, SentAt = T0.AddSeconds(4) }));
        var loose = NewJob(_peerA, T0);
        await Store.AddAsync(loose);
        Assert.True(await Store.TryMarkSentAsync(loose with { State = JobState.Sent, SentAt = T0.AddSeconds(5) }));
        Assert.False(await Store.TryMarkSentAsync(loose with { State = JobState.Sent, SentAt = T0.AddSeconds(6) }));
    }

    [Fact]
    public async Task Pages_of_all_jobs_run_newest_first_and_are_not_shifted_by_jobs_created_meanwhile()
    {
        // Several jobs in one instant: the id orders them, the same in every store.
        var jobs = Enumerable.Range(0, 23).Select(i => NewJob(i % 2 == 0 ? _peerA : _peerB, T0.AddSeconds(i / 3))).ToList();
        foreach (var job in jobs)
        {
            await Store.AddAsync(job);
        }

        var expected = jobs.OrderByDescending(job => job.CreatedAt).ThenByDescending(job => job.Id, Comparer<Guid>.Create(JobCursor.CompareIds)).ToList();
        var seen = new List<Job>();
        JobCursor? after = null;
        var pages = 0;
        do
        {
            var page = await Store.QueryAsync(new JobQuery { Limit = 5, After = after });
            seen.AddRange(page.Jobs);
            after = page.Next;
            pages++;
            // Jobs created while paging (newer than every page) must not appear in, or shift, later pages.
            await Store.AddAsync(NewJob(_peerA, T0.AddMinutes(10 + pages)));
        }
        while (after is not null);

        Assert.Equal(5, pages);
        Assert.Equal(expected, seen);
        Assert.Null((await Store.QueryAsync(new JobQuery { Limit = 3, After = JobCursor.After(expected[^1]) })).Next);
    }

    [Fact]
    public async Task All_jobs_filter_by_state_peer_batch_and_creation_time()
    {
        var old = NewJob(_peerA, T0);
        var sentB = NewJob(_peerB, T0.AddMinutes(1)) with { State = JobState.Sent, SentAt = T0.AddMinutes(2) };
        var newA = NewJob(_peerA, T0.AddMinutes(3));
        foreach (var job in new[] { old, sentB, newA })
        {
            await Store.AddAsync(job);
        }

        var (batch, batchJobs) = NewBatch(2, maxInFlight: 1, createdAt: T0.AddMinutes(4));
        await Store.AddBatchAsync(batch, batchJobs);

        Assert.Equal([sentB], (await Store.QueryAsync(new JobQuery { State = JobState.Sent })).Jobs);
        Assert.Equal(
            [batchJobs.Single(job => job.PeerKey.Equals(_peerA.PublicKey)), newA, old],
            (await Store.QueryAsync(new JobQuery { PeerId = "peer-" + _peerA.PublicKey })).Jobs);
        Assert.Equal(batchJobs.Select(job => job.Id).Order(Comparer<Guid>.Create(JobCursor.CompareIds)).Reverse(), (await Store.QueryAsync(new JobQuery { BatchId = batch.Id })).Jobs.Select(job => job.Id));
        // Strictly after: sentB, created at exactly that time, is not.
        Assert.Equal(3, (await Store.QueryAsync(new JobQuery { CreatedAfter = T0.AddMinutes(1) })).Jobs.Count);
        var first = await Store.QueryAsync(new JobQuery { CreatedAfter = T0.AddMinutes(1), State = JobState.Pending, PeerId = "peer-" + _peerA.PublicKey, Limit = 1 });
        Assert.Equal([batchJobs.Single(job => job.PeerKey.Equals(_peerA.PublicKey))], first.Jobs);
        Assert.Equal([newA], (await Store.QueryAsync(new JobQuery { CreatedAfter = T0.AddMinutes(1), State = JobState.Pending, PeerId = "peer-" + _peerA.PublicKey, After = first.Next })).Jobs);
        Assert.Empty((await Store.QueryAsync(new JobQuery { BatchId = Guid.NewGuid() })).Jobs);
    }

    public void Dispose()
    {
        _peerA.Dispose();
        _peerB.Dispose();
        GC.SuppressFinalize(this);
        DisposeStore();
    }

    protected virtual void DisposeStore()
    {
    }

    /// <summary>A batch over <paramref name="count"/> peers: two of them A and B, the rest fresh keys.</summary>
    private (JobBatch Batch, List<Job> Jobs) NewBatch(int count, int? maxInFlight, DateTimeOffset? createdAt = null)
    {
        var at = createdAt ?? T0;
        var batch = new JobBatch(JobIds.New(), at, count, maxInFlight);
        var keys = new[] { _peerA.PublicKey, _peerB.PublicKey }.Concat(Enumerable.Range(2, Math.Max(0, count - 2)).Select(_ => WireGuardKeyPair.Generate().PublicKey)).Take(count);
        var jobs = keys.Select(key => new Job(JobIds.New(), "peer-" + key, key, new BundleParameters { LogFileCount = 2 }, JobState.Pending, at, BatchId: batch.Id)).ToList();
        return (batch, jobs);
    }

    private static Job NewJob(WireGuardKeyPair peer, DateTimeOffset createdAt) =>
        new(JobIds.New(), "peer-" + peer.PublicKey, peer.PublicKey, new BundleParameters { LogFileCount = 1 }, JobState.Pending, createdAt);
}

public sealed class InMemoryJobStoreTests : JobStoreContract
{
    protected override IJobStore Store { get; } = new InMemoryJobStore();
}

public sealed class SqliteJobStoreTests : JobStoreContract
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-sqlite-").FullName;

    public SqliteJobStoreTests() => Store = new SqliteJobStore(new Reactive.Management.Storage.SqliteDatabase(Path.Combine(_folder, "jobs.db")));

    protected override IJobStore Store { get; }

    [Fact]
    public async Task Jobs_outlive_the_store_object_on_the_same_file()
    {
        var job = new Job(JobIds.New(), "p", WireGuardKeyPair.Generate().PublicKey, new BundleParameters(), JobState.Pending, DateTimeOffset.UnixEpoch);
        await Store.AddAsync(job);

        var reopened = new SqliteJobStore(new Reactive.Management.Storage.SqliteDatabase(Path.Combine(_folder, "jobs.db")));

        Assert.Equal(job, await reopened.FindAsync(job.Id));
    }

    protected override void DisposeStore()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
