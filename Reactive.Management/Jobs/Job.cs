using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Jobs;

/// <summary>Where a job is in its life.</summary>
public enum JobState
{
    /// <summary>Created; waiting for the peer's Job stream.</summary>
    Pending,

    /// <summary>Written to the peer's Job stream; waiting for its answer.</summary>
    Sent,

    /// <summary>The peer answered with success.</summary>
    Succeeded,

    /// <summary>The peer answered with failure.</summary>
    Failed,
}

/// <summary>An immutable snapshot of a job: the work asked of one peer, and its outcome.</summary>
/// <param name="Id">The job's id; its 16 bytes are <c>JobRequest.ID</c> on the wire.</param>
/// <param name="PeerId">The peer's registry id.</param>
/// <param name="PeerKey">The peer's WireGuard key.</param>
/// <param name="Bundle">The debug-bundle workload.</param>
/// <param name="State">Where the job is.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="SentAt">When it was last written to a stream.</param>
/// <param name="CompletedAt">When the answer arrived.</param>
/// <param name="UploadKey">The bundle's upload key, on success.</param>
/// <param name="FailedReason">The peer's reason, on failure.</param>
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
    string? FailedReason = null)
{
    /// <summary>Whether the job has its final answer.</summary>
    public bool IsCompleted => State is JobState.Succeeded or JobState.Failed;

    /// <summary>The job as the <see cref="JobRequest"/> the peer receives.</summary>
    public JobRequest ToRequest() => new()
    {
        ID = JobIds.ToWire(Id),
        Bundle = Bundle.Clone(),
    };
}
