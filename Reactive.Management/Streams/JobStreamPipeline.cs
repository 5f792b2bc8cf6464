using System.Reactive.Concurrency;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Streams;

/// <summary>
/// The outgoing side of one Job stream, in one place: the peer's jobs merged with heartbeats that restart
/// after every job, then any operators the application adds, then encryption, then the gRPC writer.
/// </summary>
public static class JobStreamPipeline
{
    /// <summary>
    /// Whether a sealed message is a heartbeat: an empty <see cref="JobRequest"/> seals to a body of exactly
    /// <see cref="NaClBox.Overhead"/> bytes (nonce and tag), and every job is longer (its ID alone is 16 bytes).
    /// </summary>
    public static bool IsSealedHeartbeat(EncryptedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Body.Length == NaClBox.Overhead;
    }

    /// <summary>
    /// How a Job stream writes: a heartbeat is skipped while any write is pending (queued data keeps a proxy just as
    /// busy), and a write pending for <paramref name="stuckWriteTimeout"/> ends the stream.
    /// </summary>
    /// <param name="stuckWriteTimeout">How long one write may stay pending.</param>
    /// <param name="scheduler">Times <paramref name="stuckWriteTimeout"/>.</param>
    /// <param name="heartbeatSkipped">Called for each skipped heartbeat; null for none.</param>
    public static StreamWritePolicy<EncryptedMessage> WritePolicy(TimeSpan stuckWriteTimeout, IScheduler scheduler, Action? heartbeatSkipped = null) => new()
    {
        SkipWhileBusy = IsSealedHeartbeat,
        Skipped = heartbeatSkipped is null ? null : _ => heartbeatSkipped(),
        StuckWriteTimeout = stuckWriteTimeout,
        Scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler)),
    };

    /// <summary>Builds the sequence of encrypted messages a peer's Job stream writes.</summary>
    /// <param name="jobs">The peer's jobs (its outbox's, in Jobs/).</param>
    /// <param name="channel">The stream's encryption, keyed once for this peer.</param>
    /// <param name="heartbeatInterval">Silence before a heartbeat.</param>
    /// <param name="scheduler">Times the heartbeats.</param>
    /// <param name="extend">
    /// Extra operators on the plaintext requests, heartbeats included (<see cref="JobMessages.IsHeartbeat"/>
    /// tells them apart); null for none.
    /// </param>
    /// <param name="firstHeartbeatAfter">
    /// Silence before the stream's first heartbeat (a jittered start, at most <paramref name="heartbeatInterval"/>);
    /// null for one interval.
    /// </param>
    /// <remarks>
    /// <code>
    /// jobs.WithHeartbeat(heartbeatInterval, CreateHeartbeat, scheduler)   // Merge + Interval, Switch-reset per job
    ///     .extend()                                                      // application's operators
    ///     .Seal(channel)                                                 // NaCl box, precomputed key
    /// </code>
    /// Heartbeats come every <paramref name="heartbeatInterval"/> of silence; a job resets the next one to
    /// a full interval after it. The sequence completes when <paramref name="jobs"/> does. Write it with
    /// <see cref="WritePolicy"/> so that a peer that stops reading cannot queue heartbeats without bound.
    /// </remarks>
    public static IObservable<EncryptedMessage> Outgoing(
        IObservable<JobRequest> jobs,
        SealedChannel channel,
        TimeSpan heartbeatInterval,
        IScheduler scheduler,
        Func<IObservable<JobRequest>, IObservable<JobRequest>>? extend = null,
        TimeSpan? firstHeartbeatAfter = null)
    {
        var requests = firstHeartbeatAfter is { } first
            ? jobs.WithHeartbeat(heartbeatInterval, JobMessages.CreateHeartbeat, scheduler, first)
            : jobs.WithHeartbeat(heartbeatInterval, JobMessages.CreateHeartbeat, scheduler);
        return (extend?.Invoke(requests) ?? requests).Seal(channel);
    }

    /// <summary>
    /// The design card as one composition: the peer's jobs, heartbeats after every silence (reset by each job), the
    /// application's operators, encryption, and the writer, one write at a time until <paramref name="callEnded"/>.
    /// </summary>
    /// <param name="jobs">The peer's jobs (its outbox's, in Jobs/).</param>
    /// <param name="channel">The stream's encryption, keyed once for this peer.</param>
    /// <param name="heartbeatInterval">Silence before a heartbeat.</param>
    /// <param name="scheduler">Times the heartbeats and the stuck-write limit.</param>
    /// <param name="extend">The application's operators on the plaintext requests; null for none.</param>
    /// <param name="writer">The gRPC response stream.</param>
    /// <param name="stuckWriteTimeout">How long one write may stay pending (see <see cref="WritePolicy"/>).</param>
    /// <param name="callEnded">The call's end: no write starts after it.</param>
    /// <param name="heartbeatSkipped">Called for each heartbeat skipped while a write was pending; null for none.</param>
    /// <param name="firstHeartbeatAfter">Silence before the first heartbeat (see <see cref="Outgoing"/>); null for one interval.</param>
    /// <returns>Each message once written, in order; it ends as <c>WriteTo</c> does.</returns>
    /// <remarks>
    /// <code>
    /// jobs.WithHeartbeat(heartbeatInterval, CreateHeartbeat, scheduler)   // Merge + Interval, Switch-reset per job
    ///     .extend()                                                      // application's operators
    ///     .Seal(channel)                                                 // NaCl box, precomputed key
    ///     .WriteTo(writer, WritePolicy(...), callEnded)                  // a write queue: one write at a time
    /// </code>
    /// </remarks>
    public static IObservable<EncryptedMessage> WriteJobStream(
        IObservable<JobRequest> jobs,
        SealedChannel channel,
        TimeSpan heartbeatInterval,
        IScheduler scheduler,
        Func<IObservable<JobRequest>, IObservable<JobRequest>>? extend,
        Grpc.Core.IAsyncStreamWriter<EncryptedMessage> writer,
        TimeSpan stuckWriteTimeout,
        CancellationToken callEnded,
        Action? heartbeatSkipped = null,
        TimeSpan? firstHeartbeatAfter = null) =>
        Outgoing(jobs, channel, heartbeatInterval, scheduler, extend, firstHeartbeatAfter)
            .WriteTo(writer, WritePolicy(stuckWriteTimeout, scheduler, heartbeatSkipped), callEnded);
}
