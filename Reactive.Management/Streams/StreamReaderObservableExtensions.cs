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
                // Unsubscribed: whatever the cancelled read threw (a reset, a disposed request) has nobody to go to, and
                // rethrown here it would surface as an unobserved task exception.
                return;
            }

            observer.OnCompleted();
        });
    }
}
