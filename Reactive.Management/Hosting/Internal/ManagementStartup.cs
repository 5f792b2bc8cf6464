using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Reactive.Management.Jobs;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Runs while the host starts, so that a bad setting, key file or database stops the start with a clear message
/// instead of failing the first peer: validates the options, loads (or creates) the server key, opens the store and
/// re-arms the deadlines of the jobs it holds.
/// </summary>
internal sealed class ManagementStartup(IOptions<ManagementOptions> options, ServerIdentity identity, JobBoard board) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Reading both is the point: their construction validates and loads.
        _ = options.Value;
        _ = identity.KeyPair;
        await board.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
