using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Reactive.Threading.Tasks;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>
/// The jobs of all peers: creates them (stored before anyone is told), hands them to the peer's live stream or
/// keeps them until it connects (hinting other replicas, if any, that it has work), completes them with the peer's
/// answer, and times them out.
/// </summary>
/// <remarks>
/// <para>The store is the truth; every change is a conditional update, so an answer, a time-out and a cancellation
/// that race cannot overwrite each other.</para>
/// <para>Delivery is at least once: a stream that opens gets every unfinished job of its peer, oldest first,
/// including jobs sent on an earlier stream (or before a restart) that were never answered. Each job is written at
/// most once per stream. A repeated answer finds the job finished and changes nothing.</para>
/// <para>Deadlines run on the injected <see cref="IScheduler"/>: a job is timed out exactly
/// <see cref="JobTimeouts.PendingTimeToLive"/> after its creation if still pending, and
/// <see cref="JobTimeouts.AnswerTimeout"/> after its first send if still unanswered.</para>
/// </remarks>
public sealed class JobBoard : IDisposable
{
    /// <summary>A failure reason or upload key longer than this (in UTF-8 bytes) is cut, as NetBird does for the reason.</summary>
    public const int MaxReasonBytes = 4096;

    private readonly IJobStore _store;
    private readonly JobHub _hub;
    private readonly IScheduler _scheduler;
    private readonly ILogger _logger;
    private readonly ManagementMetrics? _metrics;
    private readonly IJobSignals? _signals;
    private readonly Subject<Job> _changes = new();
    private readonly ISubject<Job> _changesSynchronized;
    private readonly JobDeadlines _deadlines;
    private readonly IDisposable? _hints;
    private readonly ConcurrentDictionary<Guid, BatchFill> _fills = new();
    private readonly CancellationTokenSource _disposed = new();
    private int _disposeCalls;

    /// <summary>Creates a board over <paramref name="store"/> that sends through <paramref name="hub"/>.</summary>
    internal JobBoard(
        IJobStore store,
        JobHub hub,
        IScheduler scheduler,
        JobTimeouts? timeouts = null,
        ILogger<JobBoard>? logger = null,
        ManagementMetrics? metrics = null,
        IJobSignals? signals = null,
        IScheduler? timers = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _hub = hub ?? throw new ArgumentNullException(nameof(hub));
        _scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        _logger = logger ?? NullLogger<JobBoard>.Instance;
        _metrics = metrics;
        _signals = signals;
        _changesSynchronized = Subject.Synchronize(_changes);
        _deadlines = new JobDeadlines(store, timers ?? scheduler, timeouts ?? JobTimeouts.Default, _logger, Finish);
        // One subscription for the host, not one per stream: a hint finds its stream by the peer's key.
        _hints = signals?.PeersWithWork.Subscribe(
            peer =>
            {
                if (_hub.TryGetOutbox(peer, out var outbox))
                {
                    outbox.RequestDelivery();
                }
            },
            _ => { });
    }

    /// <summary>Every new state of every job, as this process makes it (hot).</summary>
    public IObservable<Job> Changes => _changesSynchronized.AsObservable();

    /// <summary>
    /// Re-arms the deadlines of the unfinished jobs in the store, e.g. after a restart. A deadline already past
    /// fires at once.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        foreach (var job in await _store.ListUnfinishedAsync(null, cancellationToken).ConfigureAwait(false))
        {
            _deadlines.Arm(job);
        }
    }

    /// <summary>
    /// Creates a job for <paramref name="peer"/>. It is stored (durably) before this returns, and sent at once if
    /// the peer is connected.
    /// </summary>
    /// <returns>The job as it stands: <see cref="JobState.Sent"/> if it went out, else <see cref="JobState.Pending"/>.</returns>
    public async Task<Job> CreateAsync(Peer peer, BundleParameters bundle, CancellationToken cancellationToken = default) =>
        (await CreateOnceAsync(peer, bundle, idempotencyKey: null, createdBy: null, cancellationToken).ConfigureAwait(false)).Job;

    /// <summary>
    /// Creates a job for <paramref name="peer"/> as <see cref="CreateAsync"/> does, unless the peer already has a job
    /// created with <paramref name="idempotencyKey"/>: then that job is returned as it stands, and nothing is created.
    /// </summary>
    /// <param name="peer">The peer the job is for.</param>
    /// <param name="bundle">The workload.</param>
    /// <param name="idempotencyKey">The client's key for this creation (a retry sends the same one); null for none.</param>
    /// <param name="createdBy">Who asked (an API token's name), kept as <see cref="Job.CreatedBy"/>; null for nobody named.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The job, and whether this call created it.</returns>
    public async Task<(Job Job, bool Created)> CreateOnceAsync(Peer peer, BundleParameters bundle, string? idempotencyKey, string? createdBy = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(bundle);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var job = new Job(JobIds.New(), peer.Id, peer.Key, bundle.Clone(), JobState.Pending, _scheduler.Now, IdempotencyKey: idempotencyKey, CreatedBy: createdBy);
        if (idempotencyKey is null)
        {
            await _store.AddAsync(job, cancellationToken).ConfigureAwait(false);
        }
        else if (await _store.AddOrFindByIdempotencyKeyAsync(job, cancellationToken).ConfigureAwait(false) is { } stored && stored.Id != job.Id)
        {
            return (stored, false);
        }

        _metrics?.JobCreated();
        Announce(job);
        _deadlines.Arm(job);
        if (_hub.TryGetOutbox(peer.Key, out var outbox))
        {
            job = await DispatchAsync(job, outbox, cancellationToken).ConfigureAwait(false) ?? job;
            if (job.State == JobState.Sent)
            {
                // Stored, stored as sent, and handed to the stream's writer: the server's part of a job's latency.
                _metrics?.JobHandedOver(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            }
        }
        else if (_signals is not null)
        {
            await HintOtherReplicasAsync(peer.Key, cancellationToken).ConfigureAwait(false);
        }

        Log.JobCreated(_logger, job.Id, job.PeerId, job.State.ToName());
        return (job, true);
    }

    /// <summary>
    /// Creates one job per peer in <paramref name="peers"/>, all in one durable write, and starts sending them: at once to
    /// connected peers, at most <paramref name="maxInFlight"/> sent and unanswered at a time (across replicas), the rest
    /// as earlier ones finish, peers with a live stream first.
    /// </summary>
    /// <param name="peers">1 to <see cref="JobBatch.MaxJobs"/> distinct peers.</param>
    /// <param name="bundle">The workload every job carries.</param>
    /// <param name="maxInFlight">The cap (1 to <see cref="JobBatch.MaxInFlightLimit"/>), or null for none.</param>
    /// <param name="createdBy">Who asked (an API token's name), recorded on every job; null for nobody named.</param>
    /// <param name="cancellationToken">Cancels the creation (before the write).</param>
    /// <returns>The stored batch; its jobs are in the store when this returns.</returns>
    public async Task<JobBatch> CreateBatchAsync(IReadOnlyList<Peer> peers, BundleParameters bundle, int? maxInFlight, string? createdBy = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentOutOfRangeException.ThrowIfZero(peers.Count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(peers.Count, JobBatch.MaxJobs);
        if (maxInFlight is { } cap && (cap < 1 || cap > JobBatch.MaxInFlightLimit))
        {
            throw new ArgumentOutOfRangeException(nameof(maxInFlight), cap, $"The cap is 1 to {JobBatch.MaxInFlightLimit}, or none.");
        }

        if (peers.DistinctBy(peer => peer.Key).Count() != peers.Count)
        {
            throw new ArgumentException("A batch has one job per peer; the peers must be distinct.", nameof(peers));
        }

        var now = _scheduler.Now;
        var batch = new JobBatch(JobIds.New(), now, peers.Count, maxInFlight);
        var jobs = peers.Select(peer => new Job(JobIds.New(), peer.Id, peer.Key, bundle.Clone(), JobState.Pending, now, BatchId: batch.Id, CreatedBy: createdBy)).ToList();
        await _store.AddBatchAsync(batch, jobs, cancellationToken).ConfigureAwait(false);
        foreach (var job in jobs)
        {
            _metrics?.JobCreated();
            Announce(job);
            _deadlines.Arm(job);
        }

        Log.BatchCreated(_logger, batch.Id, batch.JobCount, maxInFlight?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "all");
        RequestFill(batch.Id);
        return batch;
    }

    /// <summary>The batch with this id, or null.</summary>
    public ValueTask<JobBatch?> FindBatchAsync(Guid id, CancellationToken cancellationToken = default) => _store.FindBatchAsync(id, cancellationToken);

    /// <summary>How many of the batch's jobs are in each state.</summary>
    public ValueTask<IReadOnlyDictionary<JobState, int>> CountBatchAsync(Guid id, CancellationToken cancellationToken = default) =>
        _store.CountBatchAsync(id, cancellationToken);

    /// <summary>
    /// Cancels a batch: none of its pending jobs is sent any more, and each of its unfinished jobs is cancelled as
    /// <see cref="CancelAsync"/> does.
    /// </summary>
    /// <returns>The batch and how many jobs this call cancelled; a null batch when no batch has the id.</returns>
    public async Task<(JobBatch? Batch, int Cancelled)> CancelBatchAsync(Guid id, string? cancelledBy = null, CancellationToken cancellationToken = default)
    {
        // The batch first: from here no job of it is marked sent, so the unfinished ones listed below are all there is.
        var batch = await _store.CancelBatchAsync(id, _scheduler.Now, cancellationToken).ConfigureAwait(false);
        if (batch is null)
        {
            return (null, 0);
        }

        var cancelled = 0;
        foreach (var state in Job.UnfinishedStates)
        {
            JobCursor? after = null;
            do
            {
                var page = await _store.QueryAsync(new JobQuery { BatchId = id, State = state, Limit = JobQuery.MaxLimit, After = after }, cancellationToken).ConfigureAwait(false);
                // Concurrently, so that the store can commit them together.
                var outcomes = await Task.WhenAll(page.Jobs.Select(job => CancelAsync(job.Id, cancelledBy, cancellationToken))).ConfigureAwait(false);
                cancelled += outcomes.Count(outcome => outcome.Outcome == JobCancelOutcome.Cancelled);
                after = page.Next;
            }
            while (after is not null);
        }

        Log.BatchCancelled(_logger, id, cancelled);
        return (batch, cancelled);
    }

    /// <summary>One page of the jobs <paramref name="query"/> selects, across all peers, newest first.</summary>
    public ValueTask<JobPage> QueryAsync(JobQuery query, CancellationToken cancellationToken = default) => _store.QueryAsync(query, cancellationToken);

    /// <summary>The job with this id, or null.</summary>
    public ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default) => _store.FindAsync(id, cancellationToken);

    /// <summary>One page of a peer's jobs, newest first, and how many there are in all.</summary>
    public ValueTask<(IReadOnlyList<Job> Page, int Total)> ListAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default) =>
        _store.ListByPeerAsync(peerId, offset, limit, cancellationToken);

    /// <summary>The job's final state, once it has one: completes at once if it already finished.</summary>
    /// <remarks>Fails with <see cref="KeyNotFoundException"/> when no job has the id.</remarks>
    public IObservable<Job> WhenFinished(Guid id) =>
        // Changes first, then the stored state: a change between the two cannot be missed.
        Changes.Where(job => job.Id == id && job.IsFinished)
            .Merge(Observable.FromAsync(ct => _store.FindAsync(id, ct).AsTask())
                .Select(job => job ?? throw new KeyNotFoundException($"No job has the id {id}."))
                .Where(job => job.IsFinished))
            .Take(1);

    /// <summary>Waits for the job's final state.</summary>
    public Task<Job> WhenFinishedAsync(Guid id, CancellationToken cancellationToken = default) =>
        WhenFinished(id).ToTask(cancellationToken);

    /// <summary>Cancels a job that has not finished. A peer's later answer to it is ignored.</summary>
    /// <remarks><paramref name="cancelledBy"/> (an API token's name) is kept as <see cref="Job.CancelledBy"/>.</remarks>
    public async Task<(Job? Job, JobCancelOutcome Outcome)> CancelAsync(Guid id, string? cancelledBy = null, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var job = await _store.FindAsync(id, cancellationToken).ConfigureAwait(false);
            if (job is null)
            {
                return (null, JobCancelOutcome.NotFound);
            }

            if (job.IsFinished)
            {
                return (job, JobCancelOutcome.AlreadyFinished);
            }

            var cancelled = job with { State = JobState.Cancelled, CompletedAt = _scheduler.Now, FailedReason = "cancelled through the API", CancelledBy = cancelledBy };
            if (await _store.TryUpdateAsync(cancelled, [job.State], cancellationToken).ConfigureAwait(false))
            {
                Finish(cancelled);
                return (cancelled, JobCancelOutcome.Cancelled);
            }

            // The job moved on (sent, answered) between the read and the update: look again.
        }
    }

    /// <summary>
    /// Runs a stream's deliveries: each time the stream asks (it opened, a write made room after a job had to wait,
    /// another replica said its peer has work), sends the peer's unfinished jobs that fit, until the outbox completes.
    /// </summary>
    /// <remarks>
    /// The requests are a level (<see cref="PeerOutbox.RequestDelivery"/>): one made at any moment, before this
    /// loop waits or while it delivers, leads to one more pass. A pass that stops for lack of room leaves the stream
    /// waiting for room, and the write that makes it asks again; so no unfinished job is left in the store while the
    /// stream has room.
    /// </remarks>
    /// <returns>A task that completes with the outbox, and fails with the store.</returns>
    internal async Task DeliverWhileOpenAsync(PeerOutbox outbox, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        while (await outbox.WaitForDeliveryRequestAsync(cancellationToken).ConfigureAwait(false))
        {
            await DeliverPendingAsync(outbox, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends the peer's unfinished jobs, oldest first, on a stream that just opened or that has room again; jobs the
    /// stream already carried are skipped, and those beyond its room stay in the store.
    /// </summary>
    internal async Task DeliverPendingAsync(PeerOutbox outbox, CancellationToken cancellationToken = default)
    {
        // Ids first, each job read when its turn comes: a peer with thousands of waiting jobs costs their ids here, not
        // their workloads; and nothing is read at all while the stream has no room.
        if (!outbox.HasRoom())
        {
            return;
        }

        foreach (var id in await _store.ListUnfinishedIdsAsync(outbox.Peer, cancellationToken).ConfigureAwait(false))
        {
            if (!outbox.HasRoom())
            {
                return;
            }

            if (outbox.HasCarried(id) || await _store.FindAsync(id, cancellationToken).ConfigureAwait(false) is not { IsFinished: false } job)
            {
                continue;
            }

            await DispatchAsync(job, outbox, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Records a peer's answer.</summary>
    internal async Task<JobAnswerOutcome> CompleteAsync(WireGuardPublicKey from, JobResponse response, CancellationToken cancellationToken = default)
    {
        if (!JobIds.TryFromWire(response.ID, out var id))
        {
            return JobAnswerOutcome.UnknownJob;
        }

        var job = await _store.FindAsync(id, cancellationToken).ConfigureAwait(false);
        if (job is null)
        {
            return JobAnswerOutcome.UnknownJob;
        }

        if (!job.PeerKey.Equals(from))
        {
            return JobAnswerOutcome.OtherPeersJob;
        }

        if (job.State != JobState.Sent)
        {
            return job.IsFinished ? JobAnswerOutcome.AlreadyFinished : JobAnswerOutcome.NotSent;
        }

        var answered = response.Status == Protocol.JobStatus.Succeeded
            ? job with { State = JobState.Succeeded, CompletedAt = _scheduler.Now, UploadKey = Cut(response.Bundle?.UploadKey) }
            : job with { State = JobState.Failed, CompletedAt = _scheduler.Now, FailedReason = Reason(response) };
        if (!await _store.TryUpdateAsync(answered, [JobState.Sent], cancellationToken).ConfigureAwait(false))
        {
            // A time-out or cancellation won the race.
            return JobAnswerOutcome.AlreadyFinished;
        }

        Finish(answered);
        return JobAnswerOutcome.Completed;
    }

    /// <summary>Ends <see cref="Changes"/> and stops every deadline.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposeCalls, 1) != 0)
        {
            return;
        }

        _disposed.Cancel();
        _hints?.Dispose();
        _deadlines.Dispose();
        _changesSynchronized.OnCompleted();
        _changes.Dispose();
        // _disposed stays undisposed: a fill loop still finishing may read its token (it holds no timer or handle).
    }

    private async Task HintOtherReplicasAsync(WireGuardPublicKey peer, CancellationToken cancellationToken)
    {
        try
        {
            await _signals!.PeerHasWorkAsync(peer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The job is stored: the replica holding the peer finds it on its poll or the peer's next stream.
            Log.JobSignalNotSent(_logger, peer.ToString(), exception);
        }
    }

    private async Task<Job?> DispatchAsync(Job job, PeerOutbox outbox, CancellationToken cancellationToken)
    {
        if (outbox.HasCarried(job.Id))
        {
            return null;
        }

        if (!outbox.HasRoom())
        {
            // The stream has its fill of unwritten jobs (its peer reads slowly or not at all): the job waits in the
            // store, and the stream comes back for it when a write makes room.
            return null;
        }

        if (job.State == JobState.Pending)
        {
            // Stored as sent before it is written: the peer's answer can arrive sooner than a later store write,
            // and an answer to a job still stored as pending would be refused.
            var sent = job with { State = JobState.Sent, SentAt = _scheduler.Now };
            // A job of a batch at its cap (or cancelled) stays pending: the store says no, and the batch's next finished
            // job fills the room.
            if (await _store.TryMarkSentAsync(sent, cancellationToken).ConfigureAwait(false))
            {
                Announce(sent);
                _deadlines.Arm(sent);
                job = sent;
            }
            else if (await _store.FindAsync(job.Id, cancellationToken).ConfigureAwait(false) is { State: JobState.Sent } sentElsewhere)
            {
                // Another path (the stream opening, or the API) marked it sent at the same moment.
                job = sentElsewhere;
            }
            else
            {
                // Cancelled or timed out meanwhile, or its batch is at its cap.
                return null;
            }
        }

        // A job already sent goes out again on a new stream (after a reconnect or a restart); its answer deadline
        // still counts from the first send. A job refused here for lack of room is stored as sent and goes out when
        // the stream comes back for it.
        if (!outbox.TryPublishOnce(job.Id, job.ToRequest()))
        {
            return null;
        }

        Log.JobSent(_logger, job.Id, job.PeerId);
        return job;
    }

    private void Finish(Job job)
    {
        _deadlines.Disarm(job.Id);
        if (job.BatchId is { } batchId)
        {
            // It may have freed a place under the batch's cap.
            RequestFill(batchId);
        }

        _metrics?.JobCompleted(job.State.ToName());
        // The reason may be the peer's own words.
        Log.JobFinished(_logger, job.Id, job.PeerId, job.State.ToName(), LogText.Escape(job.FailedReason));
        Announce(job);
    }

    private void Announce(Job job) => _changesSynchronized.OnNext(job);

    /// <summary>Asks the batch's fill loop for one more pass (a level: requests during a pass make one more).</summary>
    private void RequestFill(Guid batchId)
    {
        if (_disposed.IsCancellationRequested)
        {
            return;
        }

        var fill = _fills.GetOrAdd(batchId, id => new BatchFill(id));
        if (fill.Request())
        {
            _ = FillWhileRequestedAsync(fill);
        }
    }

    private async Task FillWhileRequestedAsync(BatchFill fill)
    {
        // Off the caller's thread: Finish runs inside an answer's or a deadline's path.
        await Task.Yield();
        do
        {
            while (fill.TakeRequest() && !_disposed.IsCancellationRequested)
            {
                try
                {
                    if (!await FillAsync(fill.BatchId, _disposed.Token).ConfigureAwait(false))
                    {
                        // Nothing left to send: forget the loop (a later request makes a new one).
                        _fills.TryRemove(new KeyValuePair<Guid, BatchFill>(fill.BatchId, fill));
                    }
                }
                catch (Exception exception) when (!_disposed.IsCancellationRequested)
                {
                    // The jobs wait in the store: the batch's next finished job, a peer's next stream or the poll sends them.
                    Log.BatchFillFailed(_logger, fill.BatchId, exception);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        while (fill.KeepRunning());
    }

    /// <summary>
    /// One pass of a batch's fill: as many of its pending jobs as it has room for, to peers with a stream here (in
    /// id order); for the rest of the room, hints to the other replicas about peers whose streams this one does not
    /// hold.
    /// </summary>
    /// <returns>false when the batch has nothing left to send (none pending, or cancelled).</returns>
    private async Task<bool> FillAsync(Guid batchId, CancellationToken cancellationToken)
    {
        var batch = await _store.FindBatchAsync(batchId, cancellationToken).ConfigureAwait(false);
        if (batch is null || batch.CancelledAt is not null)
        {
            return false;
        }

        var counts = await _store.CountBatchAsync(batchId, cancellationToken).ConfigureAwait(false);
        if (counts.GetValueOrDefault(JobState.Pending) == 0)
        {
            return false;
        }

        var room = batch.MaxInFlight is { } cap ? cap - counts.GetValueOrDefault(JobState.Sent) : int.MaxValue;
        if (room <= 0)
        {
            return true;
        }

        var here = new List<(Job Job, PeerOutbox Outbox)>();
        var elsewhere = new List<WireGuardPublicKey>();
        JobCursor? after = null;
        do
        {
            var page = await _store.QueryAsync(new JobQuery { BatchId = batchId, State = JobState.Pending, Limit = JobQuery.MaxLimit, After = after }, cancellationToken).ConfigureAwait(false);
            foreach (var job in page.Jobs)
            {
                if (_hub.TryGetOutbox(job.PeerKey, out var outbox))
                {
                    if (here.Count < room && outbox.HasRoom())
                    {
                        here.Add((job, outbox));
                    }
                }
                else if (elsewhere.Count < room)
                {
                    elsewhere.Add(job.PeerKey);
                }
            }

            after = page.Next;
        }
        while (after is not null && here.Count < room);

        // Concurrently, so that the store commits them together; each is checked against the cap by the store.
        await Parallel.ForEachAsync(
            here,
            new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken },
            async (candidate, ct) => await DispatchAsync(candidate.Job, candidate.Outbox, ct).ConfigureAwait(false)).ConfigureAwait(false);
        if (_signals is not null)
        {
            foreach (var peer in elsewhere.Take(room - here.Count))
            {
                await HintOtherReplicasAsync(peer, cancellationToken).ConfigureAwait(false);
            }
        }

        return true;
    }

    /// <summary>
    /// The state of one batch's fill loop: whether a pass is wanted and whether the loop runs. A level, as
    /// <see cref="PeerOutbox.RequestDelivery"/> is: a request made while a pass runs makes one more pass.
    /// </summary>
    private sealed class BatchFill(Guid batchId)
    {
        private int _requested;
        private int _running;

        public Guid BatchId { get; } = batchId;

        /// <summary>Sets the request; true when the caller must start the loop (none runs).</summary>
        public bool Request()
        {
            Interlocked.Exchange(ref _requested, 1);
            return Interlocked.CompareExchange(ref _running, 1, 0) == 0;
        }

        /// <summary>Takes the request, if one is set.</summary>
        public bool TakeRequest() => Interlocked.Exchange(ref _requested, 0) == 1;

        /// <summary>
        /// Called when no request is left: stops the loop, then looks again, so that a request made just before the stop
        /// is not left without a loop. true when this loop goes on.
        /// </summary>
        public bool KeepRunning()
        {
            Interlocked.Exchange(ref _running, 0);
            return Volatile.Read(ref _requested) == 1 && Interlocked.CompareExchange(ref _running, 1, 0) == 0;
        }
    }

    private static string Reason(JobResponse response)
    {
        if (response.Status != Protocol.JobStatus.Failed)
        {
            return $"peer answered with status {response.Status}";
        }

        return Cut(response.Reason.Span);
    }

    private static string? Cut(string? peerText) => peerText is null ? null : Cut(Encoding.UTF8.GetBytes(peerText));

    private static string Cut(ReadOnlySpan<byte> peerText) =>
        Encoding.UTF8.GetString(peerText.Length > MaxReasonBytes ? peerText[..MaxReasonBytes] : peerText);
}
