using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Reactive.Management.Jobs;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Healthy while the job store answers and can write, and the host is not stopping; reported by <c>/healthz</c> and the gRPC
/// <c>isHealthy</c>.
/// </summary>
internal sealed class ManagementHealthCheck(IJobStore store, StoreDescription storeDescription, JobHub hub, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["connected_peers"] = hub.ConnectedCount };
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("The host is stopping.", data: data);
        }

        try
        {
            // One cheap read proves the store is reachable; a store that reads but cannot write is no healthier.
            _ = await store.FindAsync(Guid.Empty, cancellationToken).ConfigureAwait(false);
            return await storeDescription.WriteProblemAsync(cancellationToken).ConfigureAwait(false) is { } problem
                ? HealthCheckResult.Unhealthy(problem, data: data)
                : HealthCheckResult.Healthy("The job store answers.", data);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"The job store ({storeDescription.Name}) does not answer: {exception.Message}", exception, data);
        }
    }
}
