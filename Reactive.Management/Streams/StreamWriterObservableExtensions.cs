using System.Reactive.Linq;
using Grpc.Core;

namespace Reactive.Management.Streams;

/// <summary>Writing a sequence to a gRPC stream, one write at a time.</summary>
public static class StreamWriterObservableExtensions
{
    /// <summary>
    /// Writes each item of <paramref name="source"/> to <paramref name="writer"/> in order, starting a write
    /// only when the previous one has completed, and emits each item once its write has completed.
    /// </summary>
    /// <param name="source">The messages to write.</param>
    /// <param name="writer">The gRPC stream; it allows one pending write and none after the call ended.</param>
    /// <param name="cancellationToken">The call's end: no write starts after it is cancelled.</param>
    /// <remarks>
    /// The writes go through a queue owned by the subscription: while a write is pending, later items wait in order,
    /// and the next write starts only when it has completed. When <paramref name="cancellationToken"/> is cancelled the source is unsubscribed, the
    /// write in flight is cancelled and awaited, waiting items are dropped, and the result ends with an
    /// <see cref="OperationCanceledException"/> after that last write has finished. A failed write ends the
    /// result with the write's exception; the result completes after the last write when the source
    /// completes.
    /// </remarks>
    public static IObservable<T> WriteTo<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, CancellationToken cancellationToken) =>
        source.WriteTo(writer, new StreamWritePolicy<T>(), cancellationToken);

    /// <summary>
    /// Writes each item of <paramref name="source"/> to <paramref name="writer"/> as
    /// <see cref="WriteTo{T}(IObservable{T}, IAsyncStreamWriter{T}, CancellationToken)"/> does, with a bound on what
    /// a reader that stops reading can cost: droppable items are dropped while a write is pending, and a write that
    /// stays pending too long ends the result.
    /// </summary>
    /// <param name="source">The messages to write.</param>
    /// <param name="writer">The gRPC stream; it allows one pending write and none after the call ended.</param>
    /// <param name="policy">What may be dropped, and how long one write may take.</param>
    /// <param name="cancellationToken">The call's end: no write starts after it is cancelled.</param>
    /// <remarks>
    /// <para>An item for which <see cref="StreamWritePolicy{T}.SkipWhileBusy"/> is true is dropped when any earlier
    /// item is still being written or waiting to be: at most one such item is ever pending, and only when nothing else
    /// is. Other items wait in order, so the caller bounds how many it sends.</para>
    /// <para>A write pending for <see cref="StreamWritePolicy{T}.StuckWriteTimeout"/> (timed on
    /// <see cref="StreamWritePolicy{T}.Scheduler"/> from the moment it started) is cancelled through the token it was
    /// given; once it has settled the result fails with <see cref="StuckWriteException"/>.</para>
    /// <para>A write that completes at once (the usual case: the transport buffers it) costs no allocation here; the
    /// timer and a continuation are only set up for a write that is still pending when it returns.</para>
    /// </remarks>
    public static IObservable<T> WriteTo<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, StreamWritePolicy<T> policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(policy);
        return Observable.Create<T>(observer => new WriteQueue<T>(observer, writer, policy, cancellationToken).Run(source));
    }

    /// <summary>
    /// Writes every item of <paramref name="source"/> (see
    /// <see cref="WriteTo{T}(IObservable{T}, IAsyncStreamWriter{T}, CancellationToken)"/>) and completes when the
    /// last write has completed.
    /// </summary>
    /// <returns>
    /// A task that completes when the source completed and every write finished, faults with the first
    /// failure, and is cancelled when <paramref name="cancellationToken"/> was, after the last write settled.
    /// </returns>
    public static Task WriteAllAsync<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, CancellationToken cancellationToken) =>
        source.WriteAllAsync(writer, new StreamWritePolicy<T>(), cancellationToken);

    /// <summary>
    /// Writes every item of <paramref name="source"/> under <paramref name="policy"/> (see
    /// <see cref="WriteTo{T}(IObservable{T}, IAsyncStreamWriter{T}, StreamWritePolicy{T}, CancellationToken)"/>) and
    /// completes when the last write has completed.
    /// </summary>
    /// <returns>
    /// A task that completes when the source completed and every write finished, faults with the first
    /// failure (<see cref="StuckWriteException"/> for a stuck write), and is cancelled when
    /// <paramref name="cancellationToken"/> was, after the last write settled.
    /// </returns>
    public static Task WriteAllAsync<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, StreamWritePolicy<T> policy, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Not ToTask(token): that would end the task while a write is still in flight.
        source.WriteTo(writer, policy, cancellationToken).Subscribe(
            _ => { },
            error =>
            {
                if (error is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    completion.TrySetCanceled(cancellationToken);
                }
                else
                {
                    completion.TrySetException(error);
                }
            },
            () => completion.TrySetResult());
        return completion.Task;
    }
}
