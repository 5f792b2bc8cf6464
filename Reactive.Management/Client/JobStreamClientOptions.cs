namespace Reactive.Management.Client;

/// <summary>Options of <see cref="JobStreamClient"/>, with NetBird's client timings as defaults.</summary>
public sealed class JobStreamClientOptions
{
    /// <summary>
    /// A stream on which nothing (job or heartbeat) arrives for this long is declared dead, torn down and
    /// re-dialed. Default 75 s: 2.5 × the server's default 30 s heartbeat. Must be positive.
    /// </summary>
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>The first re-dial delay (before jitter). Default 800 ms. Must be positive.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>Each further failed attempt multiplies the delay by this. Default 1.7. At least 1.</summary>
    public double BackoffMultiplier { get; set; } = 1.7;

    /// <summary>The longest re-dial delay; also the delay after <c>PermissionDenied</c>. Default 10 s. At least <see cref="InitialBackoff"/>.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Full jitter: each delay is drawn uniformly between zero and its computed value, so that peers cut off
    /// together do not re-dial together. Default true.
    /// </summary>
    public bool Jitter { get; set; } = true;

    /// <summary>A stream that stayed up this long resets the backoff to <see cref="InitialBackoff"/>. Default 60 s.</summary>
    public TimeSpan BackoffResetAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Throws when an option is out of range, naming it.</summary>
    public void Validate()
    {
        Require(LivenessTimeout > TimeSpan.Zero, nameof(LivenessTimeout), "must be more than 0");
        Require(InitialBackoff > TimeSpan.Zero, nameof(InitialBackoff), "must be more than 0");
        Require(BackoffMultiplier >= 1, nameof(BackoffMultiplier), "must be at least 1");
        Require(MaxBackoff >= InitialBackoff, nameof(MaxBackoff), "must be at least InitialBackoff");
        Require(BackoffResetAfter >= TimeSpan.Zero, nameof(BackoffResetAfter), "must not be negative");
    }

    private static void Require(bool condition, string name, string rule)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, $"{nameof(JobStreamClientOptions)}.{name} {rule}.");
        }
    }
}
