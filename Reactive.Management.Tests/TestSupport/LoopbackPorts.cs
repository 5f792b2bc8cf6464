using System.Net;
using System.Net.Sockets;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>Ports for processes the tests start (proxies, PostgreSQL, the host sample), which must be told one.</summary>
internal static class LoopbackPorts
{
    /// <summary>A loopback port free now (the OS picks it; another process may take it before it is used).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
