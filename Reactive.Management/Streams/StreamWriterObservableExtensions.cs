using System.Reactive;
using System.Reactive.Concurrency;
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
    /// </remarks>
    public static IObservable<T> WriteTo<T>(this IObservable<T> source, IAsyncStreamWriter<T> writer, StreamWritePolicy<T> policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(policy);
        return Observable.Create<T>(observer =>
        {
            // Items accepted and not yet written (queued or in flight). Raised on the source's serialized OnNext,
            // lowered when a write settles.
            var backlog = 0;
            return source
                .TakeUntil(WhenCancelled(cancellationToken))
                .Where(item =>
                {
                    if (policy.SkipWhileBusy?.Invoke(item) == true && Volatile.Read(ref backlog) > 0)
                    {
                        policy.Skipped?.Invoke(item);
                        return false;
                    }

                    Interlocked.Increment(ref backlog);
                    return true;
                })
                .Select(item => Observable
                    .FromAsync(() => WriteOneAsync(writer, item, policy, cancellationToken))
                    .Finally(() => Interlocked.Decrement(ref backlog)))
                .Concat()
                .Concat(Observable.Defer(() =>
                {
                    // A source cut short by cancellation is not a normal completion.
                    cancellationToken.ThrowIfCancellationRequested();
                    return Observable.Empty<T>();
                }))
                .Subscribe(observer);
        });
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

    private static async Task<T> WriteOneAsync<T>(IAsyncStreamWriter<T> writer, T item, StreamWritePolicy<T> policy, CancellationToken cancellationToken)
    {
        // Items queued behind a write that outlived the call must not be written.
        cancellationToken.ThrowIfCancellationRequested();
        if (policy.StuckWriteTimeout == Timeout.InfiniteTimeSpan)
        {
            await writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
            return item;
        }

        using var write = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var stuck = 0;
        var deadline = policy.Scheduler.Schedule(policy.StuckWriteTimeout, () =>
        {
            // Decided now: cancelling the write may end the call too (a reset stream), and that must not hide the cause.
            if (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            Volatile.Write(ref stuck, 1);
            try
            {
                write.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The write settled at the same moment.
            }
        });
        try
        {
            await writer.WriteAsync(item, write.Token).ConfigureAwait(false);
            return item;
        }
        catch (Exception exception) when (Volatile.Read(ref stuck) == 1)
        {
            // Whatever the cancelled write threw (cancellation, a reset stream), the cause is the reader.
            throw new StuckWriteException(policy.StuckWriteTimeout, exception);
        }
        finally
        {
            deadline.Dispose();
        }
    }

    private static IObservable<Unit> WhenCancelled(CancellationToken cancellationToken) =>
        Observable.Create<Unit>(observer => cancellationToken.Register(() =>
        {
            observer.OnNext(Unit.Default);
            observer.OnCompleted();
        }));
}
