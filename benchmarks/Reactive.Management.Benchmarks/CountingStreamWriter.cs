using Grpc.Core;
using Reactive.Management.Protocol;

namespace Reactive.Management.Benchmarks;

/// <summary>A null writer that other threads can wait on: measures everything but the socket.</summary>
internal sealed class CountingStreamWriter : IServerStreamWriter<EncryptedMessage>
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public WriteOptions? WriteOptions { get; set; }

    public Task WriteAsync(EncryptedMessage message)
    {
        Interlocked.Increment(ref _count);
        return Task.CompletedTask;
    }

    public Task WriteAsync(EncryptedMessage message, CancellationToken cancellationToken) => WriteAsync(message);

    /// <summary>Spins until <paramref name="count"/> messages are written (the loop writes on another thread).</summary>
    public void WaitFor(long count)
    {
        var spin = default(SpinWait);
        while (Count < count)
        {
            spin.SpinOnce();
        }
    }
}
