using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Diagnostics;
using Reactive.Management.Hosting.Api;
using Reactive.Management.Jobs;
using Reactive.Management.Replicas;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Runs while the host starts, so that a bad setting, key file or database stops the start with a clear message
/// instead of failing the first peer: validates the options, loads (or creates) the server key, opens the store and
/// re-arms the deadlines of the jobs it holds; once the host listens, decides whether the HTTP API needs a token.
/// </summary>
internal sealed class ManagementStartup(
    IOptions<ManagementOptions> options,
    ServerIdentity identity,
    JobBoard board,
    Events.EventFeed events,
    Events.WebhookDispatcher webhooks,
    ApiAccess apiAccess,
    JobStreamHandler jobStreams,
    IJobSignals signals,
    IStreamOwnership ownership,
    IHostApplicationLifetime lifetime,
    ILogger<ManagementStartup> logger) : IHostedService
{
    private IDisposable? _renewing;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Reading both is the point: their construction validates and loads.
        _ = options.Value;
        _ = identity.KeyPair;
        // Made now, so that it records from the first job change and stream on.
        _ = events;
        webhooks.Start();
        await board.StartAsync(cancellationToken).ConfigureAwait(false);
        if (ownership is PostgresStreamOwnership shared)
        {
            // Streams do not survive a restart: the rows this replica left say nothing true any more.
            await shared.ForgetOwnStreamsAsync(cancellationToken).ConfigureAwait(false);
            _renewing = shared.StartRenewing(error => Log.OwnershipNotRenewed(logger, error));
        }

        if (signals is IHostedService hints)
        {
            await hints.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        // Once the server listens, its addresses tell whether the API needs a token (printed now, not at the first request).
        lifetime.ApplicationStarted.Register(apiAccess.EnsureDecided);
    }

    /// <summary>
    /// Waits for the Job stream handlers, which end with <c>Unavailable</c> as soon as the host begins to stop. This
    /// service stops before Kestrel (hosted services stop in reverse order), so Kestrel starts closing connections only
    /// after every stream has handed over its status.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await webhooks.DisposeAsync().ConfigureAwait(false);
        await jobStreams.WhenAllEndedAsync().WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _renewing?.Dispose();
        if (signals is IHostedService hints)
        {
            await hints.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
