using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>Where a job is in its life: <c>pending → sent → succeeded | failed | timed_out | cancelled</c>.</summary>
public enum JobState
{
    /// <summary>Created and stored; not yet written to a Job stream of its peer.</summary>
    Pending,

    /// <summary>Written to a Job stream at least once; waiting for the answer (sent again on the peer's next stream).</summary>
    Sent,

    /// <summary>The peer answered with success.</summary>
    Succeeded,

    /// <summary>The peer answered with failure.</summary>
    Failed,

    /// <summary>Not sent within its time to live, or not answered in time after it was sent.</summary>
    TimedOut,

    /// <summary>Cancelled through the API before it finished.</summary>
    Cancelled,
}

/// <summary>An immutable snapshot of a job: the work asked of one peer, and its outcome.</summary>
/// <param name="Id">The job's id; its 16 bytes are <c>JobRequest.ID</c> on the wire.</param>
/// <param name="PeerId">The peer's registry id.</param>
/// <param name="PeerKey">The peer's WireGuard key.</param>
/// <param name="Bundle">The debug-bundle workload.</param>
/// <param name="State">Where the job is.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="SentAt">When it was first written to a stream.</param>
/// <param name="CompletedAt">When it finished (answer, time-out or cancellation).</param>
/// <param name="UploadKey">The bundle's upload key, on success.</param>
/// <param name="FailedReason">Why it failed, timed out or was cancelled.</param>
/// <param name="IdempotencyKey">The client's <c>Idempotency-Key</c> it was created with, if any (unique per peer).</param>
/// <param name="BatchId">The fan-out (<see cref="JobBatch"/>) it was created in, if any.</param>
/// <param name="CreatedBy">The name of the API token that created it, if a named one did.</param>
/// <param name="CancelledBy">The name of the API token that cancelled it, if a named one did.</param>
public sealed record Job(
    Guid Id,
    string PeerId,
    WireGuardPublicKey PeerKey,
    BundleParameters Bundle,
    JobState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt = null,
    DateTimeOffset? CompletedAt = null,
    string? UploadKey = null,
    string? FailedReason = null,
    string? IdempotencyKey = null,
    Guid? BatchId = null,
    string? CreatedBy = null,
    string? CancelledBy = null)
{
    /// <summary>The states a job can still leave.</summary>
    public static readonly IReadOnlyList<JobState> UnfinishedStates = [JobState.Pending, JobState.Sent];

    /// <summary>Whether the job has reached a final state.</summary>
    public bool IsFinished => State is not (JobState.Pending or JobState.Sent);

    /// <summary>The job as the <see cref="JobRequest"/> the peer receives.</summary>
    public JobRequest ToRequest() => new()
    {
        ID = JobIds.ToWire(Id),
        Bundle = Bundle.Clone(),
    };
}
