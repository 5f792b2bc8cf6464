using System.Collections.Concurrent;
using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The Job method: the handshake, then a <see cref="JobStreamSession"/> for each admitted stream. Keeps what spans
/// streams: admission against <c>MaxConcurrentStreams</c>, the replay guard, and the running streams for shutdown.
/// </summary>
internal sealed class JobStreamHandler(
    ServerIdentity identity,
    IPeerRegistry peers,
    JobStreamServices services,
    IOptionsMonitor<ManagementOptions> options,
    ILogger<JobStreamHandler> logger)
{
    private readonly HelloReplayGuard _replays = new();
    private readonly ConcurrentDictionary<Task, bool> _running = new();
    private int _openStreams;

    /// <summary>Completes when every Job stream running now has ended and its status has been written.</summary>
    public Task WhenAllEndedAsync() => Task.WhenAll(_running.Keys);

    public async Task RunAsync(IAsyncStreamReader<EncryptedMessage> requests, IServerStreamWriter<EncryptedMessage> responses, ServerCallContext context)
    {
        // Ended once the response is complete on the wire (its status in the trailers), not when this method returns:
        // Kestrel writes the trailers after the handler, and a host that stopped in between closed the connection first.
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _running.TryAdd(ended.Task, true);
        context.GetHttpContext().Response.OnCompleted(() =>
        {
            _running.TryRemove(ended.Task, out _);
            ended.TrySetResult();
            return Task.CompletedTask;
        });

        var (peer, channel) = await HandshakeAsync(requests, context.CancellationToken).ConfigureAwait(false);
        using var sealedChannel = channel;
        var settings = options.CurrentValue;
        if (!TryAdmit(peer, settings.MaxConcurrentStreams))
        {
            throw Refuse(StatusCode.ResourceExhausted, $"the server holds its limit of {settings.MaxConcurrentStreams} Job streams; retry later", peer.Key);
        }

        try
        {
            using var session = new JobStreamSession(services, peer, sealedChannel, settings, requests, responses, context);
            await session.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _openStreams);
        }
    }

    /// <summary>
    /// Lets the stream in unless the host holds its limit of streams; a peer that is connected already always gets in,
    /// since its new stream replaces the old one.
    /// </summary>
    private bool TryAdmit(Peer peer, int maxStreams)
    {
        if (Interlocked.Increment(ref _openStreams) <= maxStreams || services.Hub.IsConnected(peer.Key))
        {
            return true;
        }

        Interlocked.Decrement(ref _openStreams);
        return false;
    }

    private async Task<(Peer Peer, SealedChannel Channel)> HandshakeAsync(IAsyncStreamReader<EncryptedMessage> requests, CancellationToken cancellationToken)
    {
        bool sent;
        try
        {
            sent = await requests.MoveNext(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or InvalidOperationException && cancellationToken.IsCancellationRequested)
        {
            // The client reset the stream before its hello: not a server error.
            throw new RpcException(new Status(StatusCode.Cancelled, "the client closed the stream before its hello"));
        }

        if (!sent)
        {
            throw Refuse(StatusCode.InvalidArgument, "missing hello: the Job stream must start with an encrypted JobRequest", peerKey: null);
        }

        var hello = requests.Current;
        if (!WireGuardPublicKey.TryParse(hello.WgPubKey, out var key))
        {
            throw Refuse(StatusCode.InvalidArgument, "wgPubKey is not a WireGuard public key (32 bytes, standard base64)", peerKey: null);
        }

        SealedChannel channel;
        try
        {
            channel = new SealedChannel(identity.KeyPair, key);
        }
        catch (CryptographicException)
        {
            throw Refuse(StatusCode.InvalidArgument, "wgPubKey gives no shared secret", key);
        }

        try
        {
            if (!channel.TryOpen(hello, JobRequest.Parser, out _))
            {
                throw Refuse(StatusCode.InvalidArgument, "invalid request message: the hello does not decrypt to a JobRequest", key);
            }

            var peer = await FindPeerAsync(key, cancellationToken).ConfigureAwait(false);
            // Only a registered peer's proven hello is remembered: garbage cannot fill the memory of replays.
            if (!_replays.TryAccept(key, hello.Body.Span))
            {
                throw Refuse(StatusCode.Unauthenticated, "replayed hello: this hello was used before; seal a new one", key);
            }

            return (peer, channel);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    private async Task<Peer> FindPeerAsync(WireGuardPublicKey key, CancellationToken cancellationToken)
    {
        Peer? peer;
        try
        {
            peer = await peers.FindByKeyAsync(key, cancellationToken).ConfigureAwait(false);
            if (peer is null && options.CurrentValue.AcceptUnknownPeers)
            {
                (peer, _) = await peers.RegisterAsync(key, $"peer-{key.ToString()[..8]}", cancellationToken).ConfigureAwait(false);
                Log.PeerAutoRegistered(logger, peer.Id, key.ToString());
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            Log.PeerLookupFailed(logger, key.ToString(), exception);
            throw Refuse(StatusCode.Unauthenticated, "the peer could not be looked up", key);
        }

        return peer ?? throw Refuse(StatusCode.PermissionDenied, "peer is not registered", key);
    }

    private RpcException Refuse(StatusCode status, string detail, WireGuardPublicKey? peerKey)
    {
        services.Metrics.StreamRefused(status);
        // Only a key that parsed reaches the log: whatever else the client sent there is its own text.
        Log.HandshakeRefused(logger, status, detail, peerKey?.ToString() ?? "(not a key)");
        return new RpcException(new Status(status, detail));
    }
}
