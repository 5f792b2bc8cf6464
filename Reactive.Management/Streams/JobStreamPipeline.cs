using System.Reactive.Concurrency;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Streams;

/// <summary>
/// The outgoing side of one Job stream, in one place: the peer's jobs merged with heartbeats that restart
/// after every job, then any operators the application adds, then encryption.
/// </summary>
public static class JobStreamPipeline
{
    /// <summary>Builds the sequence of encrypted messages a peer's Job stream writes.</summary>
    /// <param name="jobs">The peer's jobs (its <see cref="Jobs.PeerJobChannel.Jobs"/>).</param>
    /// <param name="channel">The stream's encryption, keyed once for this peer.</param>
    /// <param name="heartbeatInterval">Silence before a heartbeat.</param>
    /// <param name="scheduler">Times the heartbeats.</param>
    /// <param name="extend">
    /// Extra operators on the plaintext requests, heartbeats included (<see cref="JobMessages.IsHeartbeat"/>
    /// tells them apart); null for none.
    /// </param>
    /// <remarks>
    /// <code>
    /// jobs.WithHeartbeat(heartbeatInterval, CreateHeartbeat, scheduler)   // Merge + Interval, Switch-reset per job
    ///     .extend()                                                      // application's operators
    ///     .Seal(channel)                                                 // NaCl box, precomputed key
    /// </code>
    /// Heartbeats come every <paramref name="heartbeatInterval"/> of silence; a job resets the next one to
    /// a full interval after it. The sequence completes when <paramref name="jobs"/> does.
    /// </remarks>
    public static IObservable<EncryptedMessage> Outgoing(
        IObservable<JobRequest> jobs,
        SealedChannel channel,
        TimeSpan heartbeatInterval,
        IScheduler scheduler,
        Func<IObservable<JobRequest>, IObservable<JobRequest>>? extend = null)
    {
        var requests = jobs.WithHeartbeat(heartbeatInterval, JobMessages.CreateHeartbeat, scheduler);
        return (extend?.Invoke(requests) ?? requests).Seal(channel);
    }
}
