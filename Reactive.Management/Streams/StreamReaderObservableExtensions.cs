using System.Reactive.Linq;
using Grpc.Core;

namespace Reactive.Management.Streams;

/// <summary>Reading a gRPC stream as a sequence.</summary>
public static class StreamReaderObservableExtensions
{
    /// <summary>The messages of <paramref name="reader"/> as a sequence.</summary>
    /// <remarks>
    /// Cold, and for one subscriber only: a gRPC stream can be read once. Subscribing starts the reads;
    /// the sequence completes when the other side ends its stream, fails with the read's exception, and
    /// disposing the subscription cancels the pending read (and swallows what that read then throws).
    /// </remarks>
    public static IObservable<T> ToObservable<T>(this IAsyncStreamReader<T> reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Observable.Create<T>(async (observer, cancellationToken) =>
        {
            try
            {
                while (await reader.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    observer.OnNext(reader.Current);
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Unsubscribed: whatever the cancelled read threw (a reset, a disposed request) has nobody to go to.
                return;
            }
            catch (Exception error)
            {
                // Told here, not rethrown: Rx may already have let go of this task (a read that fails while the
                // subscription is being disposed), and a faulted task nobody reads is an unobserved task exception.
                observer.OnError(error);
                return;
            }

            observer.OnCompleted();
        });
    }
}
