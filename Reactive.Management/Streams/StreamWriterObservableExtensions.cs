using System.Reactive;
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
    /// The writes are <c>Select(FromAsync(write)).Concat()</c>: while a write is pending, later items wait
    /// in order. When <paramref name="cancellationToken"/> is cancelled the source is unsubscribed, the
    /// write in flight is cancelled and awaited, waiting items are dropped, and the result ends with an
    /// <see cref="OperationCanceledException"/> after that last write has finished. A failed write ends the
    /// result with the write's exception; the result completes after the last write when the source
    /// completes.
    /// </remarks>
    public static IObservable<T> WriteTo<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(writer);
        return source
            .TakeUntil(WhenCancelled(cancellationToken))
            .Select(message => Observable.FromAsync(async () =>
            {
                // Items queued behind a write that outlived the call must not be written.
                cancellationToken.ThrowIfCancellationRequested();
                await writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
                return message;
            }))
            .Concat()
            .Concat(Observable.Defer(() =>
            {
                // A source cut short by cancellation is not a normal completion.
                cancellationToken.ThrowIfCancellationRequested();
                return Observable.Empty<T>();
            }));
    }

    /// <summary>
    /// Writes every item of <paramref name="source"/> (see <see cref="WriteTo{T}"/>) and completes when the
    /// last write has completed.
    /// </summary>
    /// <returns>
    /// A task that completes when the source completed and every write finished, faults with the first
    /// failure, and is cancelled when <paramref name="cancellationToken"/> was, after the last write settled.
    /// </returns>
    public static Task WriteAllAsync<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Not ToTask(token): that would end the task while a write is still in flight.
        source.WriteTo(writer, cancellationToken).Subscribe(
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

    private static IObservable<Unit> WhenCancelled(CancellationToken cancellationToken) =>
        Observable.Create<Unit>(observer => cancellationToken.Register(() =>
        {
            observer.OnNext(Unit.Default);
            observer.OnCompleted();
        }));
}
