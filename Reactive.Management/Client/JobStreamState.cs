namespace Reactive.Management.Client;

/// <summary>Where the client's connection is.</summary>
public enum JobStreamStatus
{
    /// <summary>Dialing: a fresh channel, the server key, the Job stream and its hello.</summary>
    Connecting,

    /// <summary>The Job stream is open.</summary>
    Connected,

    /// <summary>The stream failed, ended or went silent; a re-dial is scheduled.</summary>
    Reconnecting,

    /// <summary>The server refused this peer (<c>PermissionDenied</c>, <c>Unauthenticated</c>); the client retries at the longest delay.</summary>
    Faulted,

    /// <summary>The client was disposed.</summary>
    Stopped,
}

/// <summary>A change of the client's connection.</summary>
/// <param name="Status">The new status.</param>
/// <param name="At">When, on the client's scheduler.</param>
/// <param name="Reason">Why it left the previous status (for <see cref="JobStreamStatus.Reconnecting"/> and <see cref="JobStreamStatus.Faulted"/>).</param>
/// <param name="RetryIn">The delay before the next dial (for <see cref="JobStreamStatus.Reconnecting"/> and <see cref="JobStreamStatus.Faulted"/>).</param>
public sealed record JobStreamState(JobStreamStatus Status, DateTimeOffset At, string? Reason = null, TimeSpan? RetryIn = null)
{
    /// <inheritdoc />
    public override string ToString() => (Reason, RetryIn) switch
    {
        (null, _) => Status.ToString(),
        (_, null) => $"{Status}: {Reason}",
        _ => $"{Status}: {Reason}; next dial in {RetryIn.Value.TotalSeconds:0.###} s",
    };
}
