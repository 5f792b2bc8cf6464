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
            Bundle = new BundleParameters { BundleFor = true, BundleForTime = 2, LogFileCount = 10, Anonymize = true, AnonymizeLevel = "strict" },
        };

        await Store.AddAsync(job);

        Assert.Equal(job, await Store.FindAsync(job.Id));
        Assert.Null(await Store.FindAsync(Guid.NewGuid()));
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
