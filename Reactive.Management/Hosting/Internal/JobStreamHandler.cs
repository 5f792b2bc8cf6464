using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Replicas;
using Reactive.Management.Streams;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Runs one Job stream: the handshake, then the outgoing pipeline and the incoming answers side by side,
/// until the call is cancelled, the host stops, or a newer stream of the same peer takes over.
/// </summary>
internal sealed class JobStreamHandler(
    ServerIdentity identity,
    IPeerRegistry peers,
    JobHub hub,
    JobBoard board,
    ManagementScheduler scheduler,
    IEnumerable<OutgoingOperator> operators,
    IOptionsMonitor<ManagementOptions> options,
    IHostApplicationLifetime lifetime,
    ManagementMetrics metrics,
    IJobSignals signals,
    IStreamOwnership ownership,
    ILogger<JobStreamHandler> logger)
{
    private readonly OutgoingOperator[] _operators = [.. operators];

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
        await RunStreamAsync(requests, responses, context).ConfigureAwait(false);
    }

    private async Task RunStreamAsync(IAsyncStreamReader<EncryptedMessage> requests, IServerStreamWriter<EncryptedMessage> responses, ServerCallContext context)
    {
        var (peer, channel) = await HandshakeAsync(requests, context.CancellationToken).ConfigureAwait(false);
        using var sealedChannel = channel;
        var settings = options.CurrentValue;
        if (!TryAdmit(peer, settings.MaxConcurrentStreams))
        {
            throw Refuse(StatusCode.ResourceExhausted, $"the server holds its limit of {settings.MaxConcurrentStreams} Job streams; retry later", peer.Key);
        }

        try
        {
            await RunAdmittedAsync(peer, sealedChannel, settings, requests, responses, context).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _openStreams);
        }
    }

    private async Task RunAdmittedAsync(
        Peer peer,
        SealedChannel sealedChannel,
        ManagementOptions settings,
        IAsyncStreamReader<EncryptedMessage> requests,
        IServerStreamWriter<EncryptedMessage> responses,
        ServerCallContext context)
    {
        // Headers go out now: a proxy that sees no response at all answers the client with 504.
        await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);

        using var streamEnd = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        var httpContext = context.GetHttpContext();
        var opened = Stopwatch.GetTimestamp();
        var jobs = hub.CreateChannel(peer.Key, settings.MaxQueuedJobsPerStream);
        var writes = new StreamWrites(jobs, settings.HeartbeatInterval, metrics);
        var streamContext = new PeerStreamContext(peer, httpContext.RequestServices, streamEnd.Token);

        // Subscribed before the channel is registered, so no job published to it can be missed.
        var sending = JobStreamPipeline
            .Outgoing(jobs.Jobs, sealedChannel, settings.HeartbeatInterval, scheduler.Scheduler, requests => Extend(requests, streamContext))
            .WriteTo(
                new AbortingStreamWriter<EncryptedMessage>(responses, httpContext),
                JobStreamPipeline.WritePolicy(settings.StuckWriteTimeout, scheduler.Scheduler, metrics.HeartbeatSkipped),
                streamEnd.Token)
            .Do(writes.Written)
            .LastOrDefaultAsync()
            .ToTask();
        var receiving = ReceiveAnswersAsync(requests, peer, sealedChannel, streamEnd);

        // Claimed in the shared store before the hub knows the stream: whoever sees it connected here sees it everywhere.
        var streamId = Guid.NewGuid();
        await ClaimAsync(peer, streamId, streamEnd.Token).ConfigureAwait(false);
        if (hub.Register(jobs) is not null)
        {
            Log.StreamReplaced(logger, peer.Id);
        }


        // The peer's unfinished jobs now, and again whenever a write makes room for jobs that had to wait in the store,
        // or another replica (or the poll) says the peer has work. Requests are a level the loop takes, never an edge
        // it must be listening for.
        using var hinted = signals.PeersWithWork.Where(peer.Key.Equals).Subscribe(_ => jobs.RequestDelivery(), _ => { });
        var delivering = board.DeliverWhileOpenAsync(jobs, streamEnd.Token);

        metrics.StreamOpened();
        Log.StreamOpened(logger, peer.Id, peer.Key.ToString(), settings.HeartbeatInterval);
        var reason = "completed";
        try
        {
            // A failed delivery (the store) ends the stream as surely as a failed write. A delivery loop that merely
            // stopped (the stream is ending) says nothing: the sink tells how the stream ended.
            if (await Task.WhenAny(sending, delivering).ConfigureAwait(false) == delivering && delivering.IsFaulted)
            {
                await delivering.ConfigureAwait(false);
            }

            await sending.ConfigureAwait(false);
            reason = jobs.IsReplaced ? "replaced" : "completed";
        }
        catch (StuckWriteException stuck)
        {
            // The stream was reset when the write was given up; the peer sees that, not a status.
            reason = "stuck";
            metrics.StreamStuck();
            Log.StreamStuck(logger, peer.Id, stuck.Limit);
            throw new RpcException(new Status(StatusCode.Unavailable, "The peer did not read its Job stream; reconnect."));
        }
        catch (Exception exception) when (exception is not RpcException && streamEnd.IsCancellationRequested)
        {
            // The call ended (client gone, deadline) or the host is stopping: whatever the write threw then
            // (cancellation, a reset stream) is the end of the call, not a server failure.
            // The host stopping wins over the connection closing with it: tell the peer to reconnect elsewhere.
            if (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                reason = "host stopping";
                Log.StreamStoppedByHost(logger, peer.Id);
                throw new RpcException(new Status(StatusCode.Unavailable, "The management server is shutting down; reconnect."));
            }

            // The peer sent what the server refuses to read (a message over MaxMessageSize): end with that status.
            if (await receiving.ConfigureAwait(false) is { } refused)
            {
                reason = "refused message";
                throw refused;
            }

            reason = "cancelled";
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            reason = "failed";
            metrics.WriteFailed();
            Log.StreamFailed(logger, peer.Id, Stopwatch.GetElapsedTime(opened), exception);
            throw new RpcException(new Status(StatusCode.Internal, "The Job stream failed on the server.", exception));
        }
        finally
        {
            // Jobs sent on this stream and not answered stay "sent": the peer's next stream gets them again.
            jobs.Dispose();
            await streamEnd.CancelAsync().ConfigureAwait(false);
            // Never return while a write is in flight (grpc-dotnet forbids writes after the call): on every path,
            // including a failure before the pipeline ended, wait for the sink to settle.
            await ((Task)sending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await ((Task)delivering).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await ((Task)receiving).ConfigureAwait(false);
            await ReleaseAsync(peer, streamId).ConfigureAwait(false);
            var duration = Stopwatch.GetElapsedTime(opened);
            metrics.StreamClosed(duration, reason);
            Log.StreamEnded(logger, peer.Id, reason, duration);
        }
    }

    private async Task ClaimAsync(Peer peer, Guid streamId, CancellationToken cancellationToken)
    {
        try
        {
            await ownership.ClaimAsync(peer.Key, streamId, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Who holds the stream is for the API and operators; the stream itself works without it.
            Log.OwnershipNotRecorded(logger, peer.Id, exception);
        }
    }

    private async Task ReleaseAsync(Peer peer, Guid streamId)
    {
        try
        {
            await ownership.ReleaseAsync(peer.Key, streamId).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.OwnershipNotRecorded(logger, peer.Id, exception);
        }
    }

    /// <summary>
    /// Lets the stream in unless the host holds its limit of streams; a peer that is connected already always gets in,
    /// since its new stream replaces the old one.
    /// </summary>
    private bool TryAdmit(Peer peer, int maxStreams)
    {
        if (Interlocked.Increment(ref _openStreams) <= maxStreams || hub.IsConnected(peer.Key))
        {
            return true;
        }

        Interlocked.Decrement(ref _openStreams);
        return false;
    }

    /// <summary>
    /// What each completed write of one stream tells: the metrics, how late a heartbeat came, and the job channel's room.
    /// </summary>
    private sealed class StreamWrites(PeerJobChannel jobs, TimeSpan heartbeatInterval, ManagementMetrics metrics)
    {
        private long _lastWrite = Stopwatch.GetTimestamp();

        // Called in order, one write after another (the sink's sequence).
        public void Written(EncryptedMessage written)
        {
            var now = Stopwatch.GetTimestamp();
            var heartbeat = JobStreamPipeline.IsSealedHeartbeat(written);
            metrics.MessageWritten(heartbeat);
            if (heartbeat)
            {
                // Due one interval after the previous write (the reset); anything beyond that is timer or CPU delay.
                metrics.HeartbeatLate(Stopwatch.GetElapsedTime(_lastWrite, now) - heartbeatInterval);
            }
            else
            {
                jobs.JobWritten();
            }

            _lastWrite = now;
        }
    }

    private IObservable<JobRequest> Extend(IObservable<JobRequest> requests, PeerStreamContext context)
    {
        return _operators.Aggregate(requests, (current, op) => op.Compose(current, context));
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
        metrics.StreamRefused(status);
        // Only a key that parsed reaches the log: whatever else the client sent there is its own text.
        Log.HandshakeRefused(logger, status, detail, peerKey?.ToString() ?? "(not a key)");
        return new RpcException(new Status(status, detail));
    }

    /// <summary>Decrypts the peer's answers and completes their jobs, until the stream ends.</summary>
    /// <returns>The status to end the call with when the server refused to read the request stream; else null.</returns>
    private async Task<RpcException?> ReceiveAnswersAsync(IAsyncStreamReader<EncryptedMessage> requests, Peer peer, SealedChannel channel, CancellationTokenSource streamEnd)
    {
        try
        {
            await requests.ToObservable()
                .Select(message => Observable.FromAsync(ct => HandleAnswerAsync(message, peer, channel, ct)))
                .Concat()
                .LastOrDefaultAsync()
                .ToTask(streamEnd.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (streamEnd.IsCancellationRequested)
        {
            // The stream is ending anyway.
        }
        catch (RpcException refused) when (refused.StatusCode == StatusCode.ResourceExhausted)
        {
            // grpc-dotnet refused a message over MaxReceiveMessageSize: the call ends with that status.
            Log.MessageRefused(logger, peer.Id, refused.Status.Detail);
            await streamEnd.CancelAsync().ConfigureAwait(false);
            return refused;
        }
        catch (Exception exception) when (exception is IOException or RpcException or InvalidOperationException)
        {
            // The request side broke (client reset, connection lost): the call is over.
            await streamEnd.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // An answer could not be recorded (the store failed). End the stream: the job is still "sent", so the
            // peer's next stream gets it again and its answer comes again. Nothing is lost.
            Log.AnswerNotRecorded(logger, peer.Id, exception);
            await streamEnd.CancelAsync().ConfigureAwait(false);
        }

        return null;
    }

    private async Task HandleAnswerAsync(EncryptedMessage message, Peer peer, SealedChannel channel, CancellationToken cancellationToken)
    {
        // NetBird skips what it cannot read and keeps the stream up; so do we.
        if (!channel.TryOpen(message, JobResponse.Parser, out var response))
        {
            Log.ResponseUndecryptable(logger, peer.Id);
            return;
        }

        var outcome = await board.CompleteAsync(peer.Key, response, cancellationToken).ConfigureAwait(false);
        if (outcome != JobAnswerOutcome.Completed)
        {
            var id = JobIds.TryFromWire(response.ID, out var jobId) ? jobId.ToString() : Convert.ToHexString(response.ID.Span[..Math.Min(response.ID.Length, 32)]);
            Log.ResponseDropped(logger, peer.Id, id, outcome.ToString());
        }
    }
}
