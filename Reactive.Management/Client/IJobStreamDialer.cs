using Reactive.Management.Protocol;

namespace Reactive.Management.Client;

/// <summary>Opens one Job stream connection: a fresh connection, the handshake done.</summary>
/// <remarks>The seam between the client's timing (virtual-time tested) and the network (Kestrel-tested).</remarks>
public interface IJobStreamDialer
{
    /// <summary>Dials a new connection. Fails with the call's <see cref="Grpc.Core.RpcException"/> when it cannot.</summary>
    Task<IJobStreamConnection> DialAsync(CancellationToken cancellationToken);
}

/// <summary>One open Job stream, seen from the peer.</summary>
public interface IJobStreamConnection : IDisposable
{
    /// <summary>
    /// The requests the server sends, heartbeats included, decrypted; completes when the server ends the stream,
    /// fails when the call fails. For one subscriber.
    /// </summary>
    IObservable<JobRequest> Requests { get; }

    /// <summary>Sends an answer on this stream (encrypted, one write at a time).</summary>
    void Answer(JobResponse response);
}
