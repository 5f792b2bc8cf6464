using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>What became of a peer's answer.</summary>
public enum JobAnswerOutcome
{
    /// <summary>The answer completed its job.</summary>
    Completed,

    /// <summary>No job has the answer's id (or the id is not 16 bytes).</summary>
    UnknownJob,

    /// <summary>The job belongs to another peer; the answer is ignored.</summary>
    OtherPeersJob,

    /// <summary>The job already has its answer (a repeated answer is not counted twice).</summary>
    AlreadyCompleted,

    /// <summary>The job was never sent, so it cannot be answered yet.</summary>
    NotSent,
}

/// <summary>
/// The jobs of all peers, in memory: creates them, hands them to the peer's live stream (or keeps them
/// pending until it connects), and completes them with the peer's answer.
/// </summary>
/// <remarks>
/// Each job is written at most once per stream: the move from pending to sent happens under one lock,
/// whichever of "job created" and "stream opened" comes first. A job whose stream ends before its answer
/// goes back to pending and is sent again on the peer's next stream.
/// </remarks>
public sealed class JobBoard : IDisposable
{
    /// <summary>A failure reason longer than this (in UTF-8 bytes) is cut, as NetBird does.</summary>
    public const int MaxReasonBytes = 4096;

    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Entry> _jobs = [];
    private readonly JobHub _hub;
    private readonly IScheduler _clock;
    private readonly ILogger _logger;
    private readonly ManagementMetrics? _metrics;
    private readonly Subject<Job> _changes = new();
    private readonly ISubject<Job> _changesSynchronized;

    /// <summary>Creates an empty board that sends through <paramref name="hub"/>.</summary>
    public JobBoard(JobHub hub, IScheduler clock, ILogger<JobBoard>? logger = null, ManagementMetrics? metrics = null)
    {
        _hub = hub ?? throw new ArgumentNullException(nameof(hub));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _logger = logger ?? NullLogger<JobBoard>.Instance;
        _metrics = metrics;
        _changesSynchronized = Subject.Synchronize(_changes);
    }

    /// <summary>Every new state of every job, as it happens (hot).</summary>
    public IObservable<Job> Changes => _changesSynchronized.AsObservable();

    /// <summary>Creates a job for <paramref name="peer"/> and sends it at once if the peer is connected.</summary>
    public Job Create(Peer peer, BundleParameters bundle)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(bundle);
        Job job;
        lock (_gate)
        {
            var entry = new Entry(new Job(JobIds.New(), peer.Id, peer.Key, bundle.Clone(), JobState.Pending, _clock.Now));
            _jobs.Add(entry.Current.Id, entry);
            if (_hub.TryGetChannel(peer.Key, out var channel))
            {
                Dispatch(entry, channel);
            }

            job = entry.Current;
        }

        _metrics?.JobCreated();
        Log.JobCreated(_logger, job.Id, job.PeerId, StateName(job.State));
        _changesSynchronized.OnNext(job);
        return job;
    }

    /// <summary>The job with this id, or null.</summary>
    public Job? Find(Guid id)
    {
        lock (_gate)
        {
            return _jobs.TryGetValue(id, out var entry) ? entry.Current : null;
        }
    }

    /// <summary>The jobs of one peer, oldest first.</summary>
    public IReadOnlyList<Job> ListForPeer(string peerId)
    {
        lock (_gate)
        {
            return [.. _jobs.Values.Select(entry => entry.Current).Where(job => job.PeerId == peerId).OrderBy(job => job.CreatedAt)];
        }
    }

    /// <summary>Completes when the job has its answer.</summary>
    /// <exception cref="KeyNotFoundException">No job has this id.</exception>
    public Task<Job> WhenCompleted(Guid id, CancellationToken cancellationToken = default)
    {
        Task<Job> completion;
        lock (_gate)
        {
            completion = _jobs.TryGetValue(id, out var entry)
                ? entry.Completion.Task
                : throw new KeyNotFoundException($"No job has the id {id}.");
        }

        return completion.WaitAsync(cancellationToken);
    }

    /// <summary>Sends the peer's pending jobs, oldest first, on its current stream.</summary>
    internal void DeliverPending(PeerJobChannel channel)
    {
        List<Job> sent = [];
        lock (_gate)
        {
            foreach (var entry in _jobs.Values
                .Where(entry => entry.Current.State == JobState.Pending && entry.Current.PeerKey.Equals(channel.Peer))
                .OrderBy(entry => entry.Current.CreatedAt)
                .ToList())
            {
                if (Dispatch(entry, channel))
                {
                    sent.Add(entry.Current);
                }
            }
        }

        sent.ForEach(_changesSynchronized.OnNext);
    }

    /// <summary>
    /// A stream ended: its jobs still waiting for an answer go back to pending, and are sent at once if the
    /// peer already has a newer stream.
    /// </summary>
    internal void Requeue(PeerJobChannel channel)
    {
        List<Job> requeued = [];
        lock (_gate)
        {
            foreach (var entry in _jobs.Values.Where(entry => ReferenceEquals(entry.SentOn, channel) && entry.Current.State == JobState.Sent))
            {
                entry.SentOn = null;
                entry.Current = entry.Current with { State = JobState.Pending };
                requeued.Add(entry.Current);
                Log.JobRequeued(_logger, entry.Current.Id, entry.Current.PeerId);
            }
        }

        requeued.ForEach(_changesSynchronized.OnNext);
        if (requeued.Count > 0 && _hub.TryGetChannel(channel.Peer, out var current))
        {
            DeliverPending(current);
        }
    }

    /// <summary>Records a peer's answer.</summary>
    internal JobAnswerOutcome Complete(WireGuardPublicKey from, JobResponse response)
    {
        if (!JobIds.TryFromWire(response.ID, out var id))
        {
            return JobAnswerOutcome.UnknownJob;
        }

        Job completed;
        lock (_gate)
        {
            if (!_jobs.TryGetValue(id, out var entry))
            {
                return JobAnswerOutcome.UnknownJob;
            }

            var job = entry.Current;
            if (!job.PeerKey.Equals(from))
            {
                return JobAnswerOutcome.OtherPeersJob;
            }

            if (job.IsCompleted)
            {
                return JobAnswerOutcome.AlreadyCompleted;
            }

            // A pending job that was sent before (its stream ended, it waits for redelivery) may still be answered.
            if (job.SentAt is null)
            {
                return JobAnswerOutcome.NotSent;
            }

            completed = response.Status == Protocol.JobStatus.Succeeded
                ? job with { State = JobState.Succeeded, CompletedAt = _clock.Now, UploadKey = response.Bundle?.UploadKey }
                : job with { State = JobState.Failed, CompletedAt = _clock.Now, FailedReason = Reason(response) };
            entry.Current = completed;
            entry.SentOn = null;
        }

        _metrics?.JobCompleted(StateName(completed.State));
        Log.JobCompleted(_logger, completed.Id.ToString(), completed.PeerId, StateName(completed.State));
        _changesSynchronized.OnNext(completed);
        Entry? done;
        lock (_gate)
        {
            done = _jobs.GetValueOrDefault(completed.Id);
        }

        done?.Completion.TrySetResult(completed);
        return JobAnswerOutcome.Completed;
    }

    /// <summary>Ends <see cref="Changes"/>.</summary>
    public void Dispose()
    {
        _changesSynchronized.OnCompleted();
        _changes.Dispose();
    }

    /// <summary>The lower-case name the API and logs use for a state.</summary>
    public static string StateName(JobState state) => state switch
    {
        JobState.Pending => "pending",
        JobState.Sent => "sent",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        _ => state.ToString().ToLowerInvariant(),
    };

    private bool Dispatch(Entry entry, PeerJobChannel channel)
    {
        if (entry.Current.State != JobState.Pending || !channel.Publish(entry.Current.ToRequest()))
        {
            return false;
        }

        entry.SentOn = channel;
        entry.Current = entry.Current with { State = JobState.Sent, SentAt = _clock.Now };
        Log.JobSent(_logger, entry.Current.Id, entry.Current.PeerId);
        return true;
    }

    private static string Reason(JobResponse response)
    {
        if (response.Status != Protocol.JobStatus.Failed)
        {
            return $"peer answered with status {response.Status}";
        }

        var reason = response.Reason.Span;
        return Encoding.UTF8.GetString(reason.Length > MaxReasonBytes ? reason[..MaxReasonBytes] : reason);
    }

    private sealed class Entry(Job job)
    {
        public Job Current { get; set; } = job;

        public PeerJobChannel? SentOn { get; set; }

        public TaskCompletionSource<Job> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
