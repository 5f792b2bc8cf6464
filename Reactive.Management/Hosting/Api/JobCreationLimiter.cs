using System.Reactive.Concurrency;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting.Api;

/// <summary>
/// The rate limit on job creation through the API: a token bucket of <see cref="ManagementOptions.JobCreationBurst"/>
/// jobs, refilled by <see cref="ManagementOptions.MaxJobsPerSecond"/> every second of the management scheduler.
/// </summary>
/// <remarks>
/// Refilling runs on the injected scheduler (not the limiter's own timer), so the limit is exact in virtual time.
/// </remarks>
internal sealed class JobCreationLimiter : IDisposable
{
    private readonly TokenBucketRateLimiter _bucket;
    private readonly IDisposable _refill;

    public JobCreationLimiter(IOptions<ManagementOptions> options, Internal.ManagementScheduler scheduler)
    {
        var settings = options.Value;
        _bucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = settings.JobCreationBurst,
            TokensPerPeriod = settings.MaxJobsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            AutoReplenishment = false,
            QueueLimit = 0,
        });
        _refill = scheduler.Scheduler.SchedulePeriodic(TimeSpan.FromSeconds(1), () => _bucket.TryReplenish());
    }

    /// <summary>Takes one job's permit; false when the limit is reached.</summary>
    public bool TryAcquire()
    {
        using var lease = _bucket.AttemptAcquire();
        return lease.IsAcquired;
    }

    public void Dispose()
    {
        _refill.Dispose();
        _bucket.Dispose();
    }
}
