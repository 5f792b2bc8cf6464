using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using Grpc.Core;

namespace Reactive.Management.Streams;

/// <summary>
/// The state of one <c>WriteTo</c> subscription: items wait in order, one write at a time, each item emitted once written.
/// </summary>
/// <remarks>
/// This was <c>Select(FromAsync(write)).Concat()</c>. Measured per heartbeat that cost a FromAsync observable, a task, a
/// linked token source and a timer item for every write, 2.5 times the CPU of a hand-written loop
/// (PERFORMANCE.md); this queue does the same with nothing allocated for a write that completes at once. Its one
/// invariant: only the thread that set <see cref="_writing"/> writes, emits items, and (once it clears the flag with
/// nothing left) ends the sequence; anyone else ends it only while no write is in progress.
/// </remarks>
internal sealed class WriteQueue<T>(IObserver<T> observer, IAsyncStreamWriter<T> writer, StreamWritePolicy<T> policy, CancellationToken callEnded) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Queue<T> _pending = new();
    private readonly SingleAssignmentDisposable _source = new();
    private readonly CancellationTokenSource _writes = CancellationTokenSource.CreateLinkedTokenSource(callEnded);
    private bool _writing;
    private bool _sourceCompleted;
    private Exception? _sourceError;
    private bool _terminated;
    private int _stuck;
    private CancellationTokenRegistration _cancellation;

    /// <summary>Subscribes to <paramref name="source"/>; disposing the result unsubscribes (writes in flight go on).</summary>
    public IDisposable Run(IObservable<T> source)
    {
        _cancellation = callEnded.Register(static state => ((WriteQueue<T>)state!).OnCallEnded(), this);
        _source.Disposable = source.Subscribe(OnNext, OnSourceError, OnSourceCompleted);
        return this;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _terminated = true;
            _pending.Clear();
        }

        _cancellation.Dispose();
        _source.Dispose();
    }

    private void OnNext(T item)
    {
        lock (_gate)
        {
            if (_terminated || _sourceCompleted)
            {
                return;
            }

            if ((_writing || _pending.Count > 0) && policy.SkipWhileBusy?.Invoke(item) == true)
            {
                policy.Skipped?.Invoke(item);
                return;
            }

            _pending.Enqueue(item);
            if (_writing)
            {
                return;
            }

            _writing = true;
        }

        Drain();
    }

    private void OnSourceCompleted() => EndSource(null);

    private void OnSourceError(Exception error) => EndSource(error);

    private void EndSource(Exception? error)
    {
        lock (_gate)
        {
            _sourceCompleted = true;
            _sourceError = error;
            if (_writing || _terminated)
            {
                // The writing thread ends the sequence after its last write.
                return;
            }
        }

        Finish();
    }

    private void OnCallEnded()
    {
        _source.Dispose();
        lock (_gate)
        {
            _pending.Clear();
            if (_writing || _terminated)
            {
                // The write in flight was cancelled with the call; its end reports the cancellation.
                return;
            }
        }

        Finish();
    }

    /// <summary>Writes what waits, on the thread that owns <see cref="_writing"/>, until the queue is empty or a write is pending.</summary>
    private void Drain()
    {
        while (true)
        {
            T item;
            lock (_gate)
            {
                if (_terminated || callEnded.IsCancellationRequested || _pending.Count == 0)
                {
                    _writing = false;
                    if (_terminated || (!callEnded.IsCancellationRequested && !_sourceCompleted))
                    {
                        return;
                    }
                }
                else
                {
                    item = _pending.Dequeue();
                    goto write;
                }
            }

            Finish();
            return;

        write:
            Task written;
            try
            {
                written = writer.WriteAsync(item, _writes.Token);
            }
            catch (Exception exception)
            {
                Fail(exception);
                return;
            }

            if (!written.IsCompletedSuccessfully)
            {
                _ = CompleteLaterAsync(written, item);
                return;
            }

            observer.OnNext(item);
        }
    }

    /// <summary>A write still pending when it returned: time it, and carry on draining once it settles.</summary>
    private async Task CompleteLaterAsync(Task written, T item)
    {
        using (policy.StuckWriteTimeout == Timeout.InfiniteTimeSpan ? null : policy.Scheduler.Schedule(policy.StuckWriteTimeout, GiveUpStuckWrite))
        {
            try
            {
                await written.ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                Fail(Volatile.Read(ref _stuck) == 1 ? new StuckWriteException(policy.StuckWriteTimeout, exception) : exception);
                return;
            }
        }

        lock (_gate)
        {
            if (_terminated)
            {
                return;
            }
        }

        observer.OnNext(item);
        Drain();
    }

    private void GiveUpStuckWrite()
    {
        // Decided now: cancelling the write may end the call too (a reset stream), and that must not hide the cause.
        if (callEnded.IsCancellationRequested)
        {
            return;
        }

        Volatile.Write(ref _stuck, 1);
        try
        {
            _writes.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The subscription ended at the same moment.
        }
    }

    /// <summary>Ends the sequence once no write is in flight: cancelled, failed with the source, or completed.</summary>
    private void Finish()
    {
        Exception? error;
        lock (_gate)
        {
            if (_terminated)
            {
                return;
            }

            _terminated = true;
            // A source cut short by the call's end is not a normal completion.
            error = callEnded.IsCancellationRequested ? new OperationCanceledException(callEnded) : _sourceError;
        }

        _source.Dispose();
        _writes.Dispose();
        if (error is null)
        {
            observer.OnCompleted();
        }
        else
        {
            observer.OnError(error);
        }
    }

    private void Fail(Exception error)
    {
        lock (_gate)
        {
            if (_terminated)
            {
                return;
            }

            _terminated = true;
            _writing = false;
            _pending.Clear();
        }

        _source.Dispose();
        _writes.Dispose();
        observer.OnError(error is OperationCanceledException && callEnded.IsCancellationRequested ? new OperationCanceledException(callEnded) : error);
    }
}
