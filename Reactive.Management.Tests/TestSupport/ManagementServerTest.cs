using Reactive.Management.Crypto;
using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>A test class with its own management host (fresh per test) and one peer key.</summary>
public abstract class ManagementServerTest : IAsyncLifetime
{
    private ManagementServer? _server;

    /// <summary>The peer the tests connect as.</summary>
    protected WireGuardKeyPair Peer { get; } = WireGuardKeyPair.Generate();

    internal ManagementServer Server => _server ?? throw new InvalidOperationException("The host starts in InitializeAsync.");

    public async Task InitializeAsync() => _server = await ManagementServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Peer.Dispose();
    }
}
