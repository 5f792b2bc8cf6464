using System.Net;
using System.Net.Sockets;

namespace Reactive.Management.LoadTest;

/// <summary>
/// Connections spread over several loopback source addresses: one address has one range of ephemeral ports (~28,000 on
/// Linux), so 50,000 peers, each with its own connection, need two or more.
/// </summary>
internal static class SourceAddresses
{
    private const int ConnectionsPerAddress = 20_000;

    /// <summary>127.0.0.2, 127.0.0.3, … for a loopback IPv4 target; none (the system picks) otherwise.</summary>
    public static IReadOnlyList<IPAddress> For(Uri target, int connections, int requested)
    {
        if (!IPAddress.TryParse(target.Host, out var address) || !IPAddress.IsLoopback(address) || address.AddressFamily != AddressFamily.InterNetwork)
        {
            return [];
        }

        var count = requested > 0 ? requested : (connections + ConnectionsPerAddress - 1) / ConnectionsPerAddress;
        return [.. Enumerable.Range(2, Math.Min(count, 250)).Select(last => new IPAddress([127, 0, 0, (byte)last]))];
    }

    /// <summary>The handler of connection <paramref name="index"/>: its own HTTP/2 connection, bound to its source address.</summary>
    public static SocketsHttpHandler Handler(IReadOnlyList<IPAddress> sources, int index)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false };
        if (sources.Count > 0)
        {
            var source = sources[index % sources.Count];
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return handler;
    }
}
