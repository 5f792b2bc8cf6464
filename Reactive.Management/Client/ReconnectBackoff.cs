namespace Reactive.Management.Client;

/// <summary>
/// Exponential backoff with full jitter: attempt n (from 1) waits a uniform draw from
/// [0, min(MaxBackoff, InitialBackoff · Multiplier^(n−1))].
/// </summary>
internal sealed class ReconnectBackoff(JobStreamClientOptions options, Random random)
{
    public TimeSpan Delay(int attempt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var ceiling = options.InitialBackoff.TotalMilliseconds * Math.Pow(options.BackoffMultiplier, attempt - 1);
        var capped = Math.Min(ceiling, options.MaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(options.Jitter ? random.NextDouble() * capped : capped);
    }
}
