namespace Reactive.Management.Jobs;

/// <summary>The snake_case names the API, the logs and the stores use for job states.</summary>
internal static class JobStateNames
{
    /// <summary>The name of a state: <c>pending</c>, <c>sent</c>, <c>succeeded</c>, <c>failed</c>, <c>timed_out</c>, <c>cancelled</c>.</summary>
    public static string ToName(this JobState state) => state switch
    {
        JobState.Pending => "pending",
        JobState.Sent => "sent",
        JobState.Succeeded => "succeeded",
        JobState.Failed => "failed",
        JobState.TimedOut => "timed_out",
        JobState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "Unknown job state."),
    };

    /// <summary>The state with this name.</summary>
    /// <exception cref="FormatException">No state has this name.</exception>
    public static JobState Parse(string name) => name switch
    {
        "pending" => JobState.Pending,
        "sent" => JobState.Sent,
        "succeeded" => JobState.Succeeded,
        "failed" => JobState.Failed,
        "timed_out" => JobState.TimedOut,
        "cancelled" => JobState.Cancelled,
        _ => throw new FormatException($"'{name}' is not a job state."),
    };
}
