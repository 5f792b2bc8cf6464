using System.Net;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Hosting;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Reactive.Management.Protocol;
using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A real management host for end-to-end tests: Kestrel over HTTP/2 cleartext on a loopback port chosen at
/// start, with the library's defaults except a short heartbeat and a key file in a temporary folder.
/// </summary>
internal sealed class ManagementServer : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];

    private readonly bool _ownsFolder;
    private int _disposed;

    private ManagementServer(WebApplication app, string folder, bool ownsFolder, Uri address, CapturingLoggerProvider logs)
    {
        _ownsFolder = ownsFolder;
        App = app;
        Logs = logs;
        Folder = folder;
        Address = address;
        Api = new HttpClient { BaseAddress = address, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    public WebApplication App { get; }

    public string Folder { get; }

    public Uri Address { get; }

    /// <summary>The HTTP API, spoken over the same h2c port.</summary>
    public HttpClient Api { get; }

    public T Service<T>()
        where T : notnull => App.Services.GetRequiredService<T>();

    public static async Task<ManagementServer> StartAsync(
        Action<ManagementOptions>? configure = null,
        Action<ReactiveManagementBuilder>? extend = null,
        string? folder = null,
        int port = 0,
        Action<KestrelServerOptions>? kestrel = null,
        IPAddress? listenOn = null)
    {
        // A caller that passes its own folder (to restart a host over the same files) keeps and deletes it.
        var ownsFolder = folder is null;
        folder ??= Directory.CreateTempSubdirectory("reactive-management-tests-").FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test", ContentRootPath = folder });
        builder.WebHost.ConfigureKestrel(options =>
        {
            options.Listen(listenOn ?? IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel?.Invoke(options);
        });
        builder.Logging.ClearProviders();
        var logs = new CapturingLoggerProvider();
        builder.Logging.AddProvider(logs);
        // The library's Debug lines too (a stream abandoned before its hello, a job sent): tests assert their level.
        builder.Logging.AddFilter("Reactive.Management", LogLevel.Debug);
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(30));
        var management = builder.Services.AddReactiveManagement(options =>
        {
            options.ServerKeyPath = Path.Combine(folder, "management.key");
            options.SqlitePath = Path.Combine(folder, "management.db");
            options.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            configure?.Invoke(options);
        });
        extend?.Invoke(management);
        var app = builder.Build();
        app.MapReactiveManagement();
        await app.StartAsync();
        // The first listener is the h2c one; a test's own listeners (kestrel) come after it.
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
        // A host listening on every interface is still spoken to over loopback only.
        var address = new UriBuilder(bound) { Host = IPAddress.Loopback.ToString() }.Uri;
        return new ManagementServer(app, folder, ownsFolder, address, logs);
    }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>A client on a fresh channel (a fresh HTTP/2 connection).</summary>
    public ManagementService.ManagementServiceClient NewClient()
    {
        var channel = GrpcChannel.ForAddress(Address);
        _channels.Add(channel);
        return new ManagementService.ManagementServiceClient(channel);
    }

    public Task<JobStreamConnection> ConnectAsync(WireGuardKeyPair peer) => JobStreamConnection.OpenAsync(NewClient(), peer);

    /// <summary>
    /// Connects the peer, starts listening for its first job, and waits until the server has registered the stream,
    /// so that a job created next goes out on it at once.
    /// </summary>
    public async Task<(JobStreamConnection Connection, Task<JobRequest> FirstJob)> ConnectAndAwaitJobAsync(WireGuardKeyPair peer)
    {
        var connection = await ConnectAsync(peer);
        var firstJob = connection.Requests.FirstAsync(request => !request.IsHeartbeat()).ToTask();
        await Eventually.TrueAsync(() => Service<JobHub>().IsConnected(peer.PublicKey), "the peer's stream to be registered");
        return (connection, firstJob);
    }

    /// <summary>
    /// Registers <paramref name="peer"/> and opens its Job stream with a sealed hello, then never reads the responses:
    /// HTTP/2 flow control soon holds the server's writes. Returns once the server has registered the stream.
    /// </summary>
    public async Task<(Peer Peer, Grpc.Core.AsyncDuplexStreamingCall<EncryptedMessage, EncryptedMessage> Call)> OpenNeverReadingStreamAsync(WireGuardKeyPair peer)
    {
        var (registered, _) = await Service<IPeerRegistry>().RegisterAsync(peer.PublicKey, "never-reading");
        using var sealing = new SealedChannel(peer, Service<ServerIdentity>().KeyPair.PublicKey);
        var call = NewClient().Job();
        await call.RequestStream.WriteAsync(sealing.Seal(new JobRequest { ID = Google.Protobuf.ByteString.CopyFrom(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)) }));
        await Eventually.TrueAsync(() => Service<JobHub>().IsConnected(peer.PublicKey), "the never-reading peer's stream to open");
        return (registered, call);
    }

    /// <summary>Waits until the peer's stream holds its fill of unwritten jobs (its writes are held), and returns its channel.</summary>
    public async Task<PeerOutbox> WhenWritesHeldAsync(WireGuardKeyPair peer)
    {
        Assert.True(Service<JobHub>().TryGetOutbox(peer.PublicKey, out var channel), "the peer has no stream");
        await Eventually.TrueAsync(() => channel.Unwritten == channel.Capacity, "the stream to hold its fill of unwritten jobs");
        return channel;
    }

    /// <summary>The registered peer with this id.</summary>
    public async Task<Peer> FindPeerAsync(string peerId) =>
        await Service<IPeerRegistry>().FindByIdAsync(peerId) ?? throw new InvalidOperationException($"No peer {peerId}.");

    /// <summary>Registers the peer through the HTTP API and returns its id.</summary>
    public Task<string> RegisterAsync(WireGuardKeyPair peer, string name = "test-peer") => Api.RegisterPeerAsync(peer, name);

    /// <summary>Stops the host (once; a test may stop it early and dispose it again at the end).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        Api.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownsFolder)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(Folder, recursive: true);
        }
    }
}
