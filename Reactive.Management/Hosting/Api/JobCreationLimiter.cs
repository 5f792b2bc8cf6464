using System.Reactive.Concurrency;
using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting.Api;

/// <summary>
/// The rate limit on job creation through the API: a token bucket of <see cref="ManagementOptions.JobCreationBurst"/>
/// jobs, refilled by <see cref="ManagementOptions.MaxJobsPerSecond"/> every second of the management scheduler.
/// </summary>
/// <remarks>
/// A small bucket of our own rather than System.Threading.RateLimiting's: that one measures time with its own
/// stopwatch, and this one must refill on the injected scheduler, so that the limit is exact in virtual time.
/// </remarks>
internal sealed class JobCreationLimiter : IDisposable
{
    private readonly Lock _gate = new();
    private readonly int _burst;
    private readonly int _perSecond;
    private readonly IDisposable _refill;
    private int _tokens;

    public JobCreationLimiter(IOptions<ManagementOptions> options, Internal.ManagementScheduler scheduler)
    {
        var settings = options.Value;
        _burst = settings.JobCreationBurst;
        _perSecond = settings.MaxJobsPerSecond;
        _tokens = _burst;
        _refill = scheduler.Scheduler.SchedulePeriodic(TimeSpan.FromSeconds(1), Refill);
    }

    /// <summary>Takes one job's permit; false when the limit is reached.</summary>
    public bool TryAcquire()
    {
        lock (_gate)
        {
            if (_tokens == 0)
            {
                return false;
            }

            _tokens--;
            return true;
        }
    }

    public void Dispose() => _refill.Dispose();

    private void Refill()
    {
        lock (_gate)
        {
            _tokens = (int)Math.Min(_burst, (long)_tokens + _perSecond);
        }
    }
}
