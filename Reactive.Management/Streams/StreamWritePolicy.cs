using System.Reactive.Concurrency;

namespace Reactive.Management.Streams;

/// <summary>
/// How <see cref="StreamWriterObservableExtensions.WriteTo{T}(IObservable{T}, Grpc.Core.IAsyncStreamWriter{T}, StreamWritePolicy{T}, CancellationToken)"/>
/// treats a reader that falls behind: which items may be dropped while a write is pending, and how long one write may
/// take before the stream counts as stuck. The defaults (<c>new()</c>) drop nothing and set no limit.
/// </summary>
/// <typeparam name="T">The messages written.</typeparam>
public sealed record StreamWritePolicy<T>
{
    /// <summary>
    /// Items for which this returns true (heartbeats) are dropped instead of queued while any write is pending or
    /// queued: data already waiting keeps the stream just as alive. Null (the default): nothing is dropped.
    /// </summary>
    public Func<T, bool>? SkipWhileBusy { get; init; }

    /// <summary>Called with each item dropped by <see cref="SkipWhileBusy"/> (for a metric); null for none.</summary>
    public Action<T>? Skipped { get; init; }

    /// <summary>
    /// A write still pending this long means the reader has stopped reading: the write is cancelled and the result
    /// fails with <see cref="StuckWriteException"/>. Default <see cref="Timeout.InfiniteTimeSpan"/> (no limit).
    /// </summary>
    public TimeSpan StuckWriteTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Times <see cref="StuckWriteTimeout"/>. Default <see cref="DefaultScheduler.Instance"/>.</summary>
    public IScheduler Scheduler { get; init; } = DefaultScheduler.Instance;
}
