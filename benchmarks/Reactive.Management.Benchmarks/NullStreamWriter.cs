using Grpc.Core;

namespace Reactive.Management.Benchmarks;

/// <summary>A stream writer whose writes complete at once: measures everything but the socket.</summary>
internal sealed class NullStreamWriter<T> : IServerStreamWriter<T>
{
    public long Count { get; private set; }

    public WriteOptions? WriteOptions { get; set; }

    public Task WriteAsync(T message)
    {
        Count++;
        return Task.CompletedTask;
    }

    public Task WriteAsync(T message, CancellationToken cancellationToken) => WriteAsync(message);
}
