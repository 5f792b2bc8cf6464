namespace Reactive.Management.Jobs;

/// <summary>How long a job may wait.</summary>
/// <param name="AnswerTimeout">From its first send to its answer.</param>
/// <param name="PendingTimeToLive">From its creation to its first send.</param>
public sealed record JobTimeouts(TimeSpan AnswerTimeout, TimeSpan PendingTimeToLive)
{
    /// <summary>10 minutes to answer, 24 hours to be sent.</summary>
    public static JobTimeouts Default { get; } = new(TimeSpan.FromMinutes(10), TimeSpan.FromHours(24));
}
