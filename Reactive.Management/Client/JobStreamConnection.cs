using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;
using Reactive.Management.Streams;

namespace Reactive.Management.Client;

/// <summary>
/// One Job stream, seen from the peer: the handshake done, incoming requests decrypted, answers sealed and
/// written one at a time. It does not re-dial; a stream that ends stays ended.
/// </summary>
public sealed class JobStreamConnection : IJobStreamConnection, IAsyncDisposable
{
    private readonly AsyncDuplexStreamingCall<EncryptedMessage, EncryptedMessage> _call;
    private readonly SealedChannel _channel;
    private readonly ISubject<JobResponse> _answers = Subject.Synchronize(new Subject<JobResponse>());
    private readonly CancellationTokenSource _lifetime;
    private readonly Task _writing;
    private IDisposable? _ownedChannel;
    private int _disposed;

    private JobStreamConnection(AsyncDuplexStreamingCall<EncryptedMessage, EncryptedMessage> call, SealedChannel channel, WireGuardPublicKey serverKey, CancellationTokenSource lifetime)
    {
        _call = call;
        _channel = channel;
        _lifetime = lifetime;
        ServerKey = serverKey;
        Requests = call.ResponseStream.ToObservable()
            .Select(Open)
            .Publish()
            .AutoConnect(1);
        _writing = _answers.Seal(channel).WriteAllAsync(call.RequestStream, lifetime.Token);
    }

    /// <summary>The server's WireGuard public key, as <c>GetServerKey</c> announced it.</summary>
    public WireGuardPublicKey ServerKey { get; }

    /// <summary>
    /// Every request the server sends, heartbeats included (<see cref="JobMessages.IsHeartbeat"/>), decrypted.
    /// Reading starts with the first subscription; the sequence completes when the server ends the stream and
    /// fails with an <see cref="RpcException"/> when the call fails, or an <see cref="InvalidDataException"/>
    /// for a message that does not decrypt.
    /// </summary>
    public IObservable<JobRequest> Requests { get; }

    /// <summary>
    /// Fetches the server key, opens the Job stream and sends the encrypted hello. <paramref name="cancellationToken"/>
    /// bounds these steps only; the stream lasts until the connection is disposed or the server ends it.
    /// </summary>
    public static async Task<JobStreamConnection> OpenAsync(ManagementService.ManagementServiceClient client, WireGuardKeyPair peerKeys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(peerKeys);
        var keyResponse = await client.GetServerKeyAsync(new Empty(), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!WireGuardPublicKey.TryParse(keyResponse.Key, out var serverKey))
        {
            throw new InvalidDataException("The server announced a key that is not a WireGuard public key.");
        }

        var channel = new SealedChannel(peerKeys, serverKey);
        // The stream outlives the token, which only bounds the handshake: the connection's own lifetime ends the call.
        var lifetime = new CancellationTokenSource();
        var call = client.Job(cancellationToken: lifetime.Token);
        try
        {
            using var handshake = cancellationToken.Register(lifetime.Cancel);
            // The hello's content is ignored by the server: that it decrypts proves the key.
            var hello = new JobRequest { ID = UnsafeByteOperations.UnsafeWrap(RandomNumberGenerator.GetBytes(16)) };
            await call.RequestStream.WriteAsync(channel.Seal(hello), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            call.Dispose();
            channel.Dispose();
            lifetime.Dispose();
            throw;
        }

        return new JobStreamConnection(call, channel, serverKey, lifetime);
    }

    /// <summary>Sends an answer to a job; answers are written in the order given, one at a time.</summary>
    public void Answer(JobResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        _answers.OnNext(response);
    }

    /// <summary>Ends the stream: pending answers are written, then the request side is completed.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _answers.OnCompleted();
        try
        {
            await _writing.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await _call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or OperationCanceledException or TimeoutException)
        {
            // The call already ended; nothing left to flush.
        }

        await _lifetime.CancelAsync().ConfigureAwait(false);
        Release();
    }

    /// <summary>Ends the stream at once: the call is cancelled, unwritten answers are dropped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _answers.OnCompleted();
        _lifetime.Cancel();
        // The answer writer now fails with the cancellation; nobody waits for it, so observe it here.
        _writing.ContinueWith(static writing => _ = writing.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        Release();
    }

    /// <summary>Makes the connection dispose <paramref name="channel"/> with itself (a channel dialed for it alone).</summary>
    internal JobStreamConnection Owning(IDisposable channel)
    {
        _ownedChannel = channel;
        return this;
    }

    private void Release()
    {
        _call.Dispose();
        _channel.Dispose();
        _lifetime.Dispose();
        _ownedChannel?.Dispose();
    }

    private JobRequest Open(EncryptedMessage message) =>
        _channel.TryOpen(message, JobRequest.Parser, out var request)
            ? request
            : throw new InvalidDataException("A message from the server did not decrypt to a JobRequest.");
}
