using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The Job stream's response writer, made so that a write cancelled while in flight resets the HTTP/2 stream.
/// </summary>
/// <remarks>
/// A write blocked by HTTP/2 flow control (the peer stopped reading) cannot complete, and the call's trailers
/// would queue behind it: the only clean end is a reset, which frees Kestrel's buffers and fails the write at once.
/// Writes are cancelled only when the stream is given up (stuck, replaced, host stopping), never on the normal path.
/// </remarks>
internal sealed class AbortingStreamWriter<T>(IServerStreamWriter<T> inner, HttpContext httpContext) : IAsyncStreamWriter<T>
{
    public WriteOptions? WriteOptions
    {
        get => inner.WriteOptions;
        set => inner.WriteOptions = value;
    }

    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public async Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        await using var abortOnCancel = cancellationToken.Register(static state => ((HttpContext)state!).Abort(), httpContext).ConfigureAwait(false);
        await inner.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }
}
