using Reactive.Management.Jobs;

namespace Reactive.Management.Events;

/// <summary>
/// Something that happened to a job or a peer's stream, as <c>GET /api/events</c> sends it: its <see cref="Id"/> grows
/// with every event the host records, so a client that reconnects with the last id it saw gets what came after.
/// </summary>
/// <param name="Id">The event's id in the log (0 before it is recorded).</param>
/// <param name="Type">One of <see cref="ManagementEventTypes"/>.</param>
/// <param name="At">When it happened.</param>
/// <param name="PeerId">The peer it concerns.</param>
/// <param name="JobId">The job, for <c>job.*</c> events.</param>
/// <param name="BatchId">The job's batch, if it has one.</param>
/// <param name="Detail">A job's failure or cancellation reason, or why a peer's stream ended.</param>
internal sealed record ManagementEvent(long Id, string Type, DateTimeOffset At, string? PeerId, Guid? JobId, Guid? BatchId, string? Detail)
{
    /// <summary>The event that a job's new state is.</summary>
    public static ManagementEvent From(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var at = job.CompletedAt ?? job.SentAt ?? job.CreatedAt;
        return new(0, ManagementEventTypes.Of(job.State), at, job.PeerId, job.Id, job.BatchId, job.FailedReason);
    }
}

/// <summary>The event types, as the API names them.</summary>
internal static class ManagementEventTypes
{
    /// <summary>A job was stored (pending).</summary>
    public const string JobCreated = "job.created";

    /// <summary>A job was marked sent to its peer's stream.</summary>
    public const string JobSent = "job.sent";

    /// <summary>The peer answered with success.</summary>
    public const string JobSucceeded = "job.succeeded";

    /// <summary>The peer answered with failure.</summary>
    public const string JobFailed = "job.failed";

    /// <summary>The job was not sent or not answered in time.</summary>
    public const string JobTimedOut = "job.timed_out";

    /// <summary>The job was cancelled through the API.</summary>
    public const string JobCancelled = "job.cancelled";

    /// <summary>A peer's Job stream opened on this host.</summary>
    public const string PeerConnected = "peer.connected";

    /// <summary>A peer's Job stream on this host ended; <see cref="ManagementEvent.Detail"/> says why.</summary>
    public const string PeerDisconnected = "peer.disconnected";

    /// <summary>Every type.</summary>
    public static IReadOnlyList<string> All { get; } =
        [JobCreated, JobSent, JobSucceeded, JobFailed, JobTimedOut, JobCancelled, PeerConnected, PeerDisconnected];

    /// <summary>The type of the event a job in <paramref name="state"/> makes.</summary>
    public static string Of(JobState state) => state switch
    {
        JobState.Pending => JobCreated,
        JobState.Sent => JobSent,
        JobState.Succeeded => JobSucceeded,
        JobState.Failed => JobFailed,
        JobState.TimedOut => JobTimedOut,
        JobState.Cancelled => JobCancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown job state."),
    };
}
