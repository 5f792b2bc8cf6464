using Grpc.Net.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Client;

/// <summary>
/// Dials Job streams over gRPC, each on a new <see cref="GrpcChannel"/>: a re-dial never reuses a connection that a
/// proxy may have cut without telling anyone.
/// </summary>
public sealed class GrpcJobStreamDialer : IJobStreamDialer
{
    private readonly Uri _address;
    private readonly WireGuardKeyPair _keys;
    private readonly Func<GrpcChannelOptions> _channelOptions;

    /// <summary>Creates the dialer.</summary>
    /// <param name="address">The management server, e.g. <c>http://127.0.0.1:33073</c> (h2c) or an <c>https://</c> address.</param>
    /// <param name="keys">The peer's WireGuard key pair.</param>
    /// <param name="channelOptions">Makes the options of each new channel; null for HTTP/2 keepalive PINGs every 30 s (10 s timeout), as NetBird's client.</param>
    public GrpcJobStreamDialer(Uri address, WireGuardKeyPair keys, Func<GrpcChannelOptions>? channelOptions = null)
    {
        _address = address ?? throw new ArgumentNullException(nameof(address));
        _keys = keys ?? throw new ArgumentNullException(nameof(keys));
        _channelOptions = channelOptions ?? DefaultChannelOptions;
    }

    /// <inheritdoc />
    public async Task<IJobStreamConnection> DialAsync(CancellationToken cancellationToken)
    {
        var channel = GrpcChannel.ForAddress(_address, _channelOptions());
        try
        {
            var connection = await JobStreamConnection.OpenAsync(new ManagementService.ManagementServiceClient(channel), _keys, cancellationToken).ConfigureAwait(false);
            return connection.Owning(channel);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    private static GrpcChannelOptions DefaultChannelOptions() => new()
    {
        HttpHandler = new SocketsHttpHandler
        {
            // PINGs find a dead connection to the next hop; they do not reach through a proxy (the watchdog does).
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        },
        DisposeHttpClient = true,
    };
}
