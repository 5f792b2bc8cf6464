using System.Threading.Channels;
using Grpc.Core;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// The simplest alternative to the Rx pipeline, for comparison only: a straight port of the Go send loop of NetBird's
/// PR #5185 — one <see cref="PeriodicTimer"/> and one <see cref="Channel{T}"/> per stream, a <c>select</c> over both,
/// the ticker reset after every job.
/// </summary>
internal static class HandWrittenJobLoop
{
    public static async Task RunAsync(
        ChannelReader<JobRequest> jobs,
        SealedChannel channel,
        IAsyncStreamWriter<EncryptedMessage> writer,
        TimeSpan interval,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        using var ticker = new PeriodicTimer(interval, time);
        var tick = ticker.WaitForNextTickAsync(cancellationToken).AsTask();
        var read = jobs.WaitToReadAsync(cancellationToken).AsTask();
        while (true)
        {
            // select { case job := <-jobs: … case <-ticker.C: … }
            if (await Task.WhenAny(read, tick).ConfigureAwait(false) == read)
            {
                if (!await read.ConfigureAwait(false))
                {
                    return;
                }

                while (jobs.TryRead(out var job))
                {
                    await writer.WriteAsync(channel.Seal(job), cancellationToken).ConfigureAwait(false);
                }

                ticker.Period = interval; // ticker.Reset(interval)
                read = jobs.WaitToReadAsync(cancellationToken).AsTask();
            }
            else
            {
                if (!await tick.ConfigureAwait(false))
                {
                    return;
                }

                await writer.WriteAsync(channel.Seal(JobMessages.CreateHeartbeat()), cancellationToken).ConfigureAwait(false);
                tick = ticker.WaitForNextTickAsync(cancellationToken).AsTask();
            }
        }
    }
}
