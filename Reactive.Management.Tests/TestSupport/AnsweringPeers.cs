using System.Collections.Concurrent;
using System.Reactive.Linq;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// Peers for fan-out tests: each registered, and when connected, on its own Job stream (its own HTTP/2 connection),
/// answering every job with success after a delay drawn from a seeded random source. Counts what each peer receives.
/// </summary>
internal sealed class AnsweringPeers : IAsyncDisposable
{
    private readonly Random _delays;
    private readonly Lock _gate = new();
    private readonly List<(JobStreamConnection Stream, IDisposable Answering)> _streams = [];
    private int _holding;
    private int _mostHeld;

    private AnsweringPeers(List<(WireGuardKeyPair Keys, Peer Peer)> peers, int seed)
    {
        Peers = peers;
        _delays = new Random(seed);
    }

    public List<(WireGuardKeyPair Keys, Peer Peer)> Peers { get; }

    /// <summary>How often each job id reached a peer.</summary>
    public ConcurrentDictionary<Guid, int> Deliveries { get; } = new();

    /// <summary>The most jobs the peers held at once (received, not yet answered): never more than the store had sent.</summary>
    public int MostHeld => Volatile.Read(ref _mostHeld);

    /// <summary>Registers <paramref name="count"/> new peers in <paramref name="registry"/>; none is connected yet.</summary>
    public static async Task<AnsweringPeers> RegisterAsync(IPeerRegistry registry, int count, int seed)
    {
        var peers = new List<(WireGuardKeyPair, Peer)>();
        for (var i = 0; i < count; i++)
        {
            var keys = WireGuardKeyPair.Generate();
            var (peer, _) = await registry.RegisterAsync(keys.PublicKey, $"fleet-{i}");
            peers.Add((keys, peer));
        }

        return new AnsweringPeers(peers, seed);
    }

    /// <summary>Opens the Job streams of peers [<paramref name="from"/>, <paramref name="to"/>) on <paramref name="server"/>.</summary>
    public async Task ConnectAsync(ManagementServer server, int from, int to, TimeSpan maxAnswerDelay)
    {
        for (var i = from; i < to; i++)
        {
            var stream = await server.ConnectAsync(Peers[i].Keys);
            var answering = stream.Requests
                .Where(request => !request.IsHeartbeat())
                .Do(Received)
                .SelectMany(request => Observable.Timer(NextDelay(maxAnswerDelay)).Select(_ => request))
                .Subscribe(request =>
                {
                    Interlocked.Decrement(ref _holding);
                    stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "fleet" } });
                });
            lock (_gate)
            {
                _streams.Add((stream, answering));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (stream, answering) in _streams)
        {
            answering.Dispose();
            await stream.DisposeAsync();
        }

        foreach (var (keys, _) in Peers)
        {
            keys.Dispose();
        }
    }

    private void Received(JobRequest request)
    {
        Deliveries.AddOrUpdate(new Guid(request.ID.Span, bigEndian: true), 1, (_, count) => count + 1);
        var holding = Interlocked.Increment(ref _holding);
        int most;
        while ((most = Volatile.Read(ref _mostHeld)) < holding && Interlocked.CompareExchange(ref _mostHeld, holding, most) != most)
        {
        }
    }

    private TimeSpan NextDelay(TimeSpan max)
    {
        lock (_gate)
        {
            return TimeSpan.FromMilliseconds(_delays.NextDouble() * max.TotalMilliseconds);
        }
    }
}
