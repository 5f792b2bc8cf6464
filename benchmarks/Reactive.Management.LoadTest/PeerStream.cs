using System.Diagnostics;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Streams;

namespace Reactive.Management.LoadTest;

/// <summary>
/// One simulated peer: a real Job stream (hello sealed with its own WireGuard key), heartbeats timed on arrival,
/// jobs opened and answered at once.
/// </summary>
internal sealed class PeerStream : IDisposable
{
    private readonly WireGuardKeyPair _keys;
    private readonly SealedChannel _channel;
    private readonly AsyncDuplexStreamingCall<EncryptedMessage, EncryptedMessage> _call;

    private PeerStream(WireGuardKeyPair keys, SealedChannel channel, AsyncDuplexStreamingCall<EncryptedMessage, EncryptedMessage> call)
    {
        _keys = keys;
        _channel = channel;
        _call = call;
    }

    public WireGuardPublicKey Key => _keys.PublicKey;

    /// <summary>The read loop; ends with the stream.</summary>
    public Task Reading { get; private set; } = Task.CompletedTask;

    public static async Task<PeerStream> OpenAsync(
        ManagementService.ManagementServiceClient client,
        WireGuardPublicKey serverKey,
        Recorder recorder,
        TimeSpan heartbeatInterval,
        CancellationToken cancellationToken)
    {
        var keys = WireGuardKeyPair.Generate();
        var channel = new SealedChannel(keys, serverKey);
        var call = client.Job(cancellationToken: cancellationToken);
        var stream = new PeerStream(keys, channel, call);
        await call.RequestStream.WriteAsync(channel.Seal(new JobRequest { ID = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16)) }), cancellationToken).ConfigureAwait(false);
        stream.Reading = stream.ReadAsync(recorder, heartbeatInterval, cancellationToken);
        return stream;
    }

    private async Task ReadAsync(Recorder recorder, TimeSpan heartbeatInterval, CancellationToken cancellationToken)
    {
        var last = Stopwatch.GetTimestamp();
        var first = true;
        try
        {
            while (await _call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                var message = _call.ResponseStream.Current;
                if (JobStreamPipeline.IsSealedHeartbeat(message))
                {
                    // The first heartbeat's wait includes the handshake: it is counted, not judged.
                    recorder.Heartbeat(Stopwatch.GetElapsedTime(last, now), heartbeatInterval, judge: !first);
                    first = false;
                }
                else if (_channel.TryOpen(message, JobRequest.Parser, out var job) && JobIds.TryFromWire(job.ID, out var id))
                {
                    recorder.JobArrived(id);
                    await _call.RequestStream.WriteAsync(_channel.Seal(new JobResponse { ID = job.ID, Status = JobStatus.Succeeded }), cancellationToken).ConfigureAwait(false);
                }

                last = now;
            }
        }
        catch (Exception exception) when (exception is RpcException or OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // The run is over.
        }
        catch (RpcException)
        {
            recorder.StreamLost();
        }
    }

    public void Dispose()
    {
        _call.Dispose();
        _channel.Dispose();
        _keys.Dispose();
    }
}
