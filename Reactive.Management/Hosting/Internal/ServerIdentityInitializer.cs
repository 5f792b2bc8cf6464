using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Validates the options and loads (or creates) the server key while the host starts, so that a bad
/// setting or key file stops the start with a clear message instead of failing the first peer.
/// </summary>
internal sealed class ServerIdentityInitializer(IOptions<ManagementOptions> options, ServerIdentity identity) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Touching both is the point: their construction validates and loads.
        _ = options.Value;
        _ = identity.KeyPair;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
