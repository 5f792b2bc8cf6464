using System.Reactive.Linq;
using System.Reactive.Subjects;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>
/// The live jobs of one connected peer's Job stream: a subject that the stream's outgoing pipeline
/// subscribes to and the job board publishes to.
/// </summary>
/// <remarks>
/// Publishing is serialized (a synchronized subject), so jobs from concurrent callers reach the pipeline
/// one at a time. <see cref="Jobs"/> completes when a newer stream of the same peer replaces this one or the
/// channel is disposed.
/// </remarks>
public sealed class PeerJobChannel : IDisposable
{
    private readonly ISubject<JobRequest> _jobs = Subject.Synchronize(new Subject<JobRequest>());
    private readonly JobHub _hub;
    private readonly Lock _deliveryGate = new();
    private readonly HashSet<Guid> _delivered = [];
    private int _completed;

    internal PeerJobChannel(JobHub hub, WireGuardPublicKey peer)
    {
        _hub = hub;
        Peer = peer;
    }

    /// <summary>The peer this channel belongs to.</summary>
    public WireGuardPublicKey Peer { get; }

    /// <summary>The jobs for this stream, as they are published. Hot: subscribe before registering.</summary>
    public IObservable<JobRequest> Jobs => _jobs.AsObservable();

    /// <summary>Whether a newer stream of the same peer took over.</summary>
    public bool IsReplaced { get; private set; }

    /// <summary>Whether this stream already carried the job.</summary>
    internal bool HasCarried(Guid jobId)
    {
        lock (_deliveryGate)
        {
            return _delivered.Contains(jobId);
        }
    }

    /// <summary>
    /// Publishes a job to the stream unless this stream already carried it (a job is written at most once
    /// per stream, however many paths deliver it) or the channel is complete.
    /// </summary>
    /// <returns>true when the job was published now.</returns>
    internal bool TryPublishOnce(Guid jobId, JobRequest job)
    {
        lock (_deliveryGate)
        {
            if (Volatile.Read(ref _completed) != 0 || !_delivered.Add(jobId))
            {
                return false;
            }

            _jobs.OnNext(job);
            return true;
        }
    }

    internal void CompleteAsReplaced()
    {
        IsReplaced = true;
        Complete();
    }

    /// <summary>Unregisters the channel (only if it is still the peer's current one) and completes it.</summary>
    public void Dispose()
    {
        _hub.Unregister(this);
        Complete();
    }

    private void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            _jobs.OnCompleted();
        }
    }
}
