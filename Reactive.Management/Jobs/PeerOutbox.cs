using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Threading.Channels;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>
/// The live jobs of one connected peer's Job stream: a subject that the stream's outgoing pipeline
/// subscribes to and the job board publishes to.
/// </summary>
/// <remarks>
/// <para>Publishing is serialized (a synchronized subject), so jobs from concurrent callers reach the pipeline
/// one at a time. <see cref="Jobs"/> completes when a newer stream of the same peer replaces this one or the
/// outbox is disposed.</para>
/// <para>At most <see cref="Capacity"/> published jobs wait for their write at once: a peer that stops reading
/// holds no more than that in memory. A job refused for lack of room stays in the store, and the first write that
/// makes room asks for a delivery from the store again.</para>
/// <para>A delivery request is a level, not an edge: it stays set until the stream's delivery loop takes it
/// (<see cref="JobBoard.DeliverWhileOpenAsync"/>), so a request made before the loop waits, or while it delivers,
/// is never lost; several requests before it looks count as one.</para>
/// </remarks>
internal sealed class PeerOutbox : IDisposable
{
    /// <summary>The default of <see cref="Capacity"/>.</summary>
    public const int DefaultCapacity = 16;

    private readonly ISubject<JobRequest> _jobs = Subject.Synchronize(new Subject<JobRequest>());
    // Capacity 1, extra writes dropped: "a delivery is wanted" as a flag the loop consumes, not a queue of edges.
    private readonly Channel<bool> _deliveryRequests = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly JobHub _hub;
    private readonly Lock _deliveryGate = new();
    private readonly HashSet<Guid> _delivered = [];
    private int _completed;
    private int _unwritten;
    private int _deferred;

    internal PeerOutbox(JobHub hub, WireGuardPublicKey peer, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _hub = hub;
        Peer = peer;
        Capacity = capacity;
        // A stream that opens wants its peer's unfinished jobs.
        RequestDelivery();
    }

    /// <summary>The peer this outbox belongs to.</summary>
    public WireGuardPublicKey Peer { get; }

    /// <summary>How many published jobs may wait for their write at once.</summary>
    public int Capacity { get; }

    /// <summary>The jobs for this stream, as they are published. Hot: subscribe before registering.</summary>
    public IObservable<JobRequest> Jobs => _jobs.AsObservable();

    /// <summary>Whether a newer stream of the same peer took over.</summary>
    public bool IsReplaced { get; private set; }

    /// <summary>Published jobs not yet reported written.</summary>
    public int Unwritten => Volatile.Read(ref _unwritten);

    /// <summary>Whether this stream already carried the job.</summary>
    internal bool HasCarried(Guid jobId)
    {
        lock (_deliveryGate)
        {
            return _delivered.Contains(jobId);
        }
    }

    /// <summary>Whether a job was refused for lack of room and the next write that makes room will ask for a delivery.</summary>
    internal bool IsWaitingForRoom => Volatile.Read(ref _deferred) == 1;

    /// <summary>
    /// Whether a job published now would find room. When it would not, the next write that makes room asks for a
    /// delivery.
    /// </summary>
    internal bool HasRoom()
    {
        if (Volatile.Read(ref _unwritten) < Capacity)
        {
            return true;
        }

        // Ask for the wake-up first, then look again: a write that settled in between must not be missed. A full fence
        // (not a volatile write) so that the read below cannot move before the flag is visible to JobWritten.
        Interlocked.Exchange(ref _deferred, 1);
        return Volatile.Read(ref _unwritten) < Capacity;
    }

    /// <summary>Asks the stream's delivery loop to look in the store for its peer's unfinished jobs (again).</summary>
    internal void RequestDelivery() => _deliveryRequests.Writer.TryWrite(true);

    /// <summary>
    /// Waits until a delivery is requested and takes the request (requests made meanwhile count as one).
    /// </summary>
    /// <returns>true when a delivery is wanted; false once the outbox is complete.</returns>
    internal async ValueTask<bool> WaitForDeliveryRequestAsync(CancellationToken cancellationToken)
    {
        var requests = _deliveryRequests.Reader;
        while (await requests.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (requests.TryRead(out _))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Publishes a job to the stream unless this stream already carried it (a job is written at most once
    /// per stream, however many paths deliver it), the outbox is complete, or it has no room.
    /// </summary>
    /// <returns>true when the job was published now.</returns>
    internal bool TryPublishOnce(Guid jobId, JobRequest job)
    {
        lock (_deliveryGate)
        {
            if (Volatile.Read(ref _completed) != 0 || _delivered.Contains(jobId) || !HasRoom())
            {
                return false;
            }

            _delivered.Add(jobId);
            Interlocked.Increment(ref _unwritten);
            _jobs.OnNext(job);
            return true;
        }
    }

    /// <summary>Reports that one published job has been written (or dropped with the stream).</summary>
    public void JobWritten()
    {
        var left = Interlocked.Decrement(ref _unwritten);
        if (left < Capacity && Interlocked.Exchange(ref _deferred, 0) == 1)
        {
            RequestDelivery();
        }
    }

    internal void CompleteAsReplaced()
    {
        IsReplaced = true;
        Complete();
    }

    /// <summary>Unregisters the outbox (only if it is still the peer's current one) and completes it.</summary>
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
            _deliveryRequests.Writer.TryComplete();
        }
    }
}
