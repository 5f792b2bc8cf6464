using Grpc.Core;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A gRPC stream writer whose writes complete when the test says so. Like grpc-dotnet's, it throws when a
/// second write starts while one is pending, and when a write starts after <see cref="EndCall"/>.
/// </summary>
internal sealed class ScriptedStreamWriter<T> : IServerStreamWriter<T>
{
    private readonly Lock _gate = new();
    private readonly bool _completeAtOnce;
    private TaskCompletionSource? _pending;
    private bool _ended;
    private int _callsInside;

    public ScriptedStreamWriter(bool completeAtOnce) => _completeAtOnce = completeAtOnce;

    public List<T> Started { get; } = [];

    public List<T> Written { get; } = [];

    public WriteOptions? WriteOptions { get; set; }

    /// <summary>How often a write started while another caller was still inside <c>WriteAsync</c>.</summary>
    public int Overlaps { get; private set; }

    public bool HasPendingWrite
    {
        get
        {
            lock (_gate)
            {
                return _pending is not null;
            }
        }
    }

    public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

    public Task WriteAsync(T message, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _callsInside) > 1)
        {
            Overlaps++;
        }

        try
        {
            return StartWrite(message, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _callsInside);
        }
    }

    private Task StartWrite(T message, CancellationToken cancellationToken)
    {
        TaskCompletionSource pending;
        lock (_gate)
        {
            if (_ended)
            {
                throw new InvalidOperationException("Can't write the message because the request is complete.");
            }

            if (_pending is not null)
            {
                throw new InvalidOperationException("Only one write can be pending at a time.");
            }

            Started.Add(message);
            if (_completeAtOnce)
            {
                Written.Add(message);
                return Task.CompletedTask;
            }

            pending = _pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        cancellationToken.Register(() => Fail(new OperationCanceledException(cancellationToken)));
        return pending.Task.ContinueWith(
            task =>
            {
                task.GetAwaiter().GetResult();
                lock (_gate)
                {
                    Written.Add(message);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Completes the pending write.</summary>
    public void CompletePending() => Take()?.TrySetResult();

    /// <summary>Fails the pending write.</summary>
    public void Fail(Exception exception) => Take()?.TrySetException(exception);

    /// <summary>After this, any write throws, as after a gRPC call ended.</summary>
    public void EndCall()
    {
        lock (_gate)
        {
            _ended = true;
        }
    }

    private TaskCompletionSource? Take()
    {
        lock (_gate)
        {
            var pending = _pending;
            _pending = null;
            return pending;
        }
    }
}
