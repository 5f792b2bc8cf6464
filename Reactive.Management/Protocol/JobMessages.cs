namespace Reactive.Management.Protocol;

/// <summary>Small helpers for the Job protocol's messages.</summary>
public static class JobMessages
{
    /// <summary>
    /// A new heartbeat: an empty <see cref="JobRequest"/> (no ID, no workload). NetBird peers log it as
    /// "unknown or empty job request" and skip it; to a reverse proxy it is an HTTP/2 DATA frame.
    /// </summary>
    public static JobRequest CreateHeartbeat() => new();

    /// <summary>Whether the request is a heartbeat rather than a job: it carries no ID and no workload.</summary>
    public static bool IsHeartbeat(this JobRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.ID.IsEmpty && request.WorkloadParametersCase == JobRequest.WorkloadParametersOneofCase.None;
    }
}
