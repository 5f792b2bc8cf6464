using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Reactive.Management.Hosting.Api;
using Reactive.Management.Jobs;

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
    ApiAccess apiAccess,
    IHostApplicationLifetime lifetime) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Reading both is the point: their construction validates and loads.
        _ = options.Value;
        _ = identity.KeyPair;
        await board.StartAsync(cancellationToken).ConfigureAwait(false);
        // Once the server listens, its addresses tell whether the API needs a token (printed now, not at the first request).
        lifetime.ApplicationStarted.Register(apiAccess.EnsureDecided);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
