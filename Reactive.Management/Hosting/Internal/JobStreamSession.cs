using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Events;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Replicas;
using Reactive.Management.Streams;

namespace Reactive.Management.Hosting.Internal;

/// <summary>What every Job stream session uses and no single one owns.</summary>
internal sealed record JobStreamServices(
    JobHub Hub,
    JobBoard Board,
    ManagementScheduler Scheduler,
    IReadOnlyList<OutgoingOperator> Operators,
    IHostApplicationLifetime Lifetime,
    ManagementMetrics Metrics,
    IJobSignals Signals,
    IStreamOwnership Ownership,
    EventFeed Events,
    StreamHealth Health,
    ILogger<JobStreamSession> Logger);

/// <summary>
/// One Job stream after its handshake, run once: its peer, sealed channel and outbox; the outgoing pipeline, the
/// delivery loop and the answer reader side by side; and how it ended, as a gRPC status and a log line.
/// </summary>
/// <remarks>
/// Its state lives here, one object per stream, as an Rx operator's does in its sink: the handler that made it keeps
/// only what spans streams (admission, the replay guard, the running set for shutdown).
/// </remarks>
internal sealed class JobStreamSession(
    JobStreamServices services,
    Peer peer,
    SealedChannel channel,
    ManagementOptions settings,
    IAsyncStreamReader<EncryptedMessage> requests,
    IServerStreamWriter<EncryptedMessage> responses,
    ServerCallContext call) : IDisposable
{
    private readonly CancellationTokenSource _end = CancellationTokenSource.CreateLinkedTokenSource(call.CancellationToken, services.Lifetime.ApplicationStopping);
    private readonly PeerOutbox _outbox = services.Hub.CreateOutbox(peer.Key, settings.MaxQueuedJobsPerStream);
    private readonly Guid _streamId = Guid.NewGuid();
    private readonly long _opened = Stopwatch.GetTimestamp();
    private long _lastWrite = Stopwatch.GetTimestamp();
    private string _reason = "failed";
    private bool _connected;
    private PeerStreamHealth? _health;

    /// <summary>Runs the stream until the call ends, the host stops, or a newer stream of the peer replaces it.</summary>
    /// <exception cref="RpcException">The status the call ends with, when it is not OK.</exception>
    public async Task RunAsync()
    {
        // Headers go out now: a proxy that sees no response at all answers the client with 504.
        await call.WriteResponseHeadersAsync([]).ConfigureAwait(false);
        // Subscribed before the outbox is registered, so no job published to it can be missed.
        var sending = SendAsync();
        var receiving = ReceiveAnswersAsync();
        var delivering = Task.CompletedTask;
        try
        {
            await ClaimAsync().ConfigureAwait(false);
            // In the log before the outbox is registered: every event of a job sent on this stream comes after it. Not
            // cut short by the call ending: the feed settles every wait (recorded or not), and the stream's end event
            // must follow this one.
            await services.Events.PeerConnectedAsync(peer, services.Scheduler.Scheduler.Now).ConfigureAwait(false);
            _health = services.Health.For(peer.Id);
            _health.Opened(services.Scheduler.Scheduler.Now);
            _connected = true;
            if (services.Hub.Register(_outbox) is not null)
            {
                Log.StreamReplaced(services.Logger, peer.Id);
            }

            // Delivery requests are a level the loop takes: the stream opening, a write making room, a replica's hint
            // (the board routes hints to the peer's registered outbox).
            delivering = services.Board.DeliverWhileOpenAsync(_outbox, _end.Token);
            services.Metrics.StreamOpened();
            Log.StreamOpened(services.Logger, peer.Id, peer.Key.ToString(), settings.HeartbeatInterval);
            await EndAsync(sending, delivering, receiving).ConfigureAwait(false);
        }
        finally
        {
            await CloseAsync(sending, delivering, receiving).ConfigureAwait(false);
        }
    }

    public void Dispose() => _end.Dispose();

    /// <summary>The design card, from this peer's outbox to its response stream.</summary>
    private Task<EncryptedMessage?> SendAsync()
    {
        var context = new PeerStreamContext(peer, call.GetHttpContext().RequestServices, _end.Token);
        return JobStreamPipeline
            .WriteJobStream(
                _outbox.Jobs,
                channel,
                settings.HeartbeatInterval,
                services.Scheduler.Timers,
                plain => services.Operators.Aggregate(plain, (current, op) => op.Compose(current, context)),
                new AbortingStreamWriter<EncryptedMessage>(responses, call.GetHttpContext()),
                settings.StuckWriteTimeout,
                _end.Token,
                services.Metrics.HeartbeatSkipped,
                FirstHeartbeatAfter())
            .Do(Written)
            .LastOrDefaultAsync()
            .ToTask();
    }

    /// <summary>One interval, or with <c>HeartbeatJitter</c> a random fraction of it less (drawn per stream).</summary>
    private TimeSpan? FirstHeartbeatAfter() => settings.HeartbeatJitter > 0
        ? settings.HeartbeatInterval * (1 - settings.HeartbeatJitter * Random.Shared.NextDouble())
        : null;

    /// <summary>How the stream ended, as its status: returns for OK, throws the <see cref="RpcException"/> otherwise.</summary>
    private async Task EndAsync(Task sending, Task delivering, Task<RpcException?> receiving)
    {
        try
        {
            // A failed delivery (the store) ends the stream as surely as a failed write; a delivery loop that merely
            // stopped (the stream is ending) says nothing: the sink tells how the stream ended.
            if (await Task.WhenAny(sending, delivering).ConfigureAwait(false) == delivering && delivering.IsFaulted)
            {
                await delivering.ConfigureAwait(false);
            }

            await sending.ConfigureAwait(false);
            _reason = _outbox.IsReplaced ? "replaced" : "completed";
        }
        catch (StuckWriteException stuck)
        {
            // The stream was reset when the write was given up; the peer sees that, not a status.
            _reason = "stuck";
            services.Metrics.StreamStuck();
            Log.StreamStuck(services.Logger, peer.Id, stuck.Limit);
            throw new RpcException(new Status(StatusCode.Unavailable, "The peer did not read its Job stream; reconnect."));
        }
        catch (Exception exception) when (exception is not RpcException && _end.IsCancellationRequested)
        {
            // The call ended (client gone, deadline) or the host is stopping: whatever the write threw then is the end of
            // the call, not a server failure. The host stopping wins over the connection closing with it.
            if (services.Lifetime.ApplicationStopping.IsCancellationRequested)
            {
                _reason = "host stopping";
                Log.StreamStoppedByHost(services.Logger, peer.Id);
                throw new RpcException(new Status(StatusCode.Unavailable, "The management server is shutting down; reconnect."));
            }

            // The peer sent what the server refuses to read (a message over MaxMessageSize): end with that status.
            if (await receiving.ConfigureAwait(false) is { } refused)
            {
                _reason = "refused message";
                throw refused;
            }

            _reason = "cancelled";
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            _reason = "failed";
            services.Metrics.WriteFailed();
            Log.StreamFailed(services.Logger, peer.Id, Stopwatch.GetElapsedTime(_opened), exception);
            throw new RpcException(new Status(StatusCode.Internal, "The Job stream failed on the server.", exception));
        }
    }

    private async Task CloseAsync(Task sending, Task delivering, Task receiving)
    {
        // Jobs sent on this stream and not answered stay "sent": the peer's next stream gets them again.
        _outbox.Dispose();
        await _end.CancelAsync().ConfigureAwait(false);
        // Never return while a write is in flight (grpc-dotnet forbids writes after the call): on every path, including
        // a failure before the pipeline ended, wait for the sink to settle.
        await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await delivering.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await receiving.ConfigureAwait(false);
        await ReleaseAsync().ConfigureAwait(false);
        var duration = Stopwatch.GetElapsedTime(_opened);
        services.Metrics.StreamClosed(duration, _reason);
        if (_connected)
        {
            services.Events.PeerDisconnected(peer, services.Scheduler.Scheduler.Now, _reason);
            _health?.Ended(services.Scheduler.Scheduler.Now, _reason);
        }

        Log.StreamEnded(services.Logger, peer.Id, _reason, duration);
    }

    /// <summary>What each completed write tells, in order: the metrics, how late a heartbeat came, the outbox's room.</summary>
    private void Written(EncryptedMessage written)
    {
        var now = Stopwatch.GetTimestamp();
        var heartbeat = JobStreamPipeline.IsSealedHeartbeat(written);
        services.Metrics.MessageWritten(heartbeat);
        if (heartbeat)
        {
            _health?.HeartbeatWritten(services.Scheduler.Scheduler.Now);
            // Due one interval after the previous write (the reset); anything beyond that is timer or CPU delay.
            services.Metrics.HeartbeatLate(Stopwatch.GetElapsedTime(_lastWrite, now) - settings.HeartbeatInterval);
        }
        else
        {
            _outbox.JobWritten();
        }

        _lastWrite = now;
    }

    /// <summary>Decrypts the peer's answers and completes their jobs, until the stream ends.</summary>
    /// <returns>The status to end the call with when the server refused to read the request stream; else null.</returns>
    private async Task<RpcException?> ReceiveAnswersAsync()
    {
        try
        {
            // One answer at a time, in order, as grpc-dotnet reads them: a plain loop costs a stream no Rx queue.
            while (await requests.MoveNext(_end.Token).ConfigureAwait(false))
            {
                await HandleAnswerAsync(requests.Current, _end.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_end.IsCancellationRequested)
        {
            // The stream is ending anyway.
        }
        catch (RpcException refused) when (refused.StatusCode == StatusCode.ResourceExhausted)
        {
            // grpc-dotnet refused a message over MaxReceiveMessageSize: the call ends with that status.
            Log.MessageRefused(services.Logger, peer.Id, refused.Status.Detail);
            await _end.CancelAsync().ConfigureAwait(false);
            return refused;
        }
        catch (Exception exception) when (exception is IOException or RpcException or InvalidOperationException)
        {
            // The request side broke (client reset, connection lost): the call is over.
            await _end.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // An answer could not be recorded (the store failed). End the stream: the job is still "sent", so the
            // peer's next stream gets it again and its answer comes again. Nothing is lost.
            Log.AnswerNotRecorded(services.Logger, peer.Id, exception);
            await _end.CancelAsync().ConfigureAwait(false);
        }

        return null;
    }

    private async Task HandleAnswerAsync(EncryptedMessage message, CancellationToken cancellationToken)
    {
        // NetBird skips what it cannot read and keeps the stream up; so do we.
        if (!channel.TryOpen(message, JobResponse.Parser, out var response))
        {
            Log.ResponseUndecryptable(services.Logger, peer.Id);
            return;
        }

        _health?.Answered(services.Scheduler.Scheduler.Now);
        var outcome = await services.Board.CompleteAsync(peer.Key, response, cancellationToken).ConfigureAwait(false);
        if (outcome != JobAnswerOutcome.Completed)
        {
            var id = JobIds.TryFromWire(response.ID, out var jobId) ? jobId.ToString() : Convert.ToHexString(response.ID.Span[..Math.Min(response.ID.Length, 32)]);
            Log.ResponseDropped(services.Logger, peer.Id, id, outcome.ToString());
        }
    }

    /// <summary>Claimed in the shared store before the hub knows the stream: whoever sees it connected here sees it everywhere.</summary>
    private async Task ClaimAsync()
    {
        try
        {
            await services.Ownership.ClaimAsync(peer.Key, _streamId, _end.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_end.IsCancellationRequested)
        {
            // The call ended meanwhile: the pipeline reports that.
        }
        catch (Exception exception)
        {
            // Who holds the stream is for the API and operators; the stream itself works without it.
            Log.OwnershipNotRecorded(services.Logger, peer.Id, exception);
        }
    }

    private async Task ReleaseAsync()
    {
        try
        {
            await services.Ownership.ReleaseAsync(peer.Key, _streamId).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.OwnershipNotRecorded(services.Logger, peer.Id, exception);
        }
    }
}
