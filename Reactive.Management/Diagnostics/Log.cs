using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Reactive.Management.Diagnostics;

/// <summary>Every log line of the library, with stable event ids (operators alert on them).</summary>
internal static partial class Log
{
    // 1xx: Job stream lifecycle.
    [LoggerMessage(100, LogLevel.Information, "Job stream opened for peer {PeerId} ({PeerKey}); heartbeat every {HeartbeatInterval}")]
    public static partial void StreamOpened(ILogger logger, string peerId, string peerKey, TimeSpan heartbeatInterval);

    [LoggerMessage(101, LogLevel.Information, "Job stream of peer {PeerId} ended: {Reason} after {Duration}")]
    public static partial void StreamEnded(ILogger logger, string peerId, string reason, TimeSpan duration);

    [LoggerMessage(102, LogLevel.Information, "Job stream of peer {PeerId} replaced by a newer stream of the same peer")]
    public static partial void StreamReplaced(ILogger logger, string peerId);

    [LoggerMessage(103, LogLevel.Error, "Job stream of peer {PeerId} failed after {Duration}")]
    public static partial void StreamFailed(ILogger logger, string peerId, TimeSpan duration, Exception exception);

    [LoggerMessage(104, LogLevel.Information, "Job stream of peer {PeerId} ended because the host is stopping")]
    public static partial void StreamStoppedByHost(ILogger logger, string peerId);

    [LoggerMessage(105, LogLevel.Warning, "Job stream of peer {PeerId} reset: a write was still pending after {Limit} (the peer stopped reading); its unanswered jobs wait for its next stream")]
    public static partial void StreamStuck(ILogger logger, string peerId, TimeSpan limit);

    [LoggerMessage(106, LogLevel.Warning, "Could not record which replica holds the stream of peer {PeerId}")]
    public static partial void OwnershipNotRecorded(ILogger logger, string peerId, Exception exception);

    [LoggerMessage(107, LogLevel.Warning, "Could not renew this replica's stream leases; its peers may show as disconnected until the next renewal")]
    public static partial void OwnershipNotRenewed(ILogger logger, Exception exception);

    // 2xx: handshake refusals.
    [LoggerMessage(200, LogLevel.Warning, "Job stream refused ({StatusCode}): {Detail}; peer key {PeerKey}")]
    public static partial void HandshakeRefused(ILogger logger, StatusCode statusCode, string detail, string peerKey);

    [LoggerMessage(201, LogLevel.Error, "Peer lookup failed for key {PeerKey}")]
    public static partial void PeerLookupFailed(ILogger logger, string peerKey, Exception exception);

    [LoggerMessage(202, LogLevel.Information, "Registered unknown peer {PeerId} ({PeerKey}) because AcceptUnknownPeers is on")]
    public static partial void PeerAutoRegistered(ILogger logger, string peerId, string peerKey);

    [LoggerMessage(203, LogLevel.Debug, "A Job stream on connection {ConnectionId} was closed by the client before its hello")]
    public static partial void StreamAbandonedBeforeHello(ILogger logger, string connectionId);

    // 3xx: incoming messages.
    [LoggerMessage(300, LogLevel.Warning, "Skipped a message from peer {PeerId} that did not decrypt to a JobResponse")]
    public static partial void ResponseUndecryptable(ILogger logger, string peerId);

    [LoggerMessage(301, LogLevel.Warning, "Dropped the answer of peer {PeerId} to job {JobId}: {Outcome}")]
    public static partial void ResponseDropped(ILogger logger, string peerId, string jobId, string outcome);

    [LoggerMessage(302, LogLevel.Warning, "Ended the Job stream of peer {PeerId}: it sent a message the server refuses to read ({Detail})")]
    public static partial void MessageRefused(ILogger logger, string peerId, string detail);

    [LoggerMessage(303, LogLevel.Error, "An answer of peer {PeerId} could not be recorded; ending its stream so that the job is sent and answered again")]
    public static partial void AnswerNotRecorded(ILogger logger, string peerId, Exception exception);

    // 4xx: jobs.
    [LoggerMessage(400, LogLevel.Information, "Job {JobId} created for peer {PeerId} ({State})")]
    public static partial void JobCreated(ILogger logger, Guid jobId, string peerId, string state);

    [LoggerMessage(401, LogLevel.Debug, "Job {JobId} sent to peer {PeerId}")]
    public static partial void JobSent(ILogger logger, Guid jobId, string peerId);

    [LoggerMessage(402, LogLevel.Information, "Job {JobId} of peer {PeerId} finished: {State} {Reason}")]
    public static partial void JobFinished(ILogger logger, Guid jobId, string peerId, string state, string reason);

    [LoggerMessage(403, LogLevel.Error, "The deadline of job {JobId} could not be applied")]
    public static partial void DeadlineFailed(ILogger logger, Guid jobId, Exception exception);

    [LoggerMessage(404, LogLevel.Warning, "Could not tell the other replicas that peer {PeerKey} has a job; their poll will find it")]
    public static partial void JobSignalNotSent(ILogger logger, string peerKey, Exception exception);

    [LoggerMessage(405, LogLevel.Warning, "The replica's job hints from PostgreSQL are interrupted; reconnecting (the poll goes on)")]
    public static partial void JobSignalsLost(ILogger logger, Exception exception);

    [LoggerMessage(406, LogLevel.Information, "Batch {BatchId} created: {JobCount} jobs, at most {MaxInFlight} sent at once")]
    public static partial void BatchCreated(ILogger logger, Guid batchId, int jobCount, string maxInFlight);

    [LoggerMessage(407, LogLevel.Information, "Batch {BatchId} cancelled: {CancelledCount} unfinished jobs cancelled")]
    public static partial void BatchCancelled(ILogger logger, Guid batchId, int cancelledCount);

    [LoggerMessage(408, LogLevel.Warning, "Could not send more jobs of batch {BatchId}; its next finished job, a peer's next stream or the poll tries again")]
    public static partial void BatchFillFailed(ILogger logger, Guid batchId, Exception exception);

    // 8xx: events.
    [LoggerMessage(800, LogLevel.Warning, "Could not record {Count} events in the event log; a client resuming from an earlier id will not see them")]
    public static partial void EventsNotRecorded(ILogger logger, int count, Exception exception);

    [LoggerMessage(801, LogLevel.Information, "Dropped an event client ({RemoteAddress}): {Reason}")]
    public static partial void EventClientDropped(ILogger logger, string? remoteAddress, string reason);

    [LoggerMessage(802, LogLevel.Warning, "Webhook {Url}: gave up on event {EventId} after {Attempts} tries ({LastError}); it is listed at GET /api/webhooks/deliveries?status=failed")]
    public static partial void WebhookDeliveryFailed(ILogger logger, string url, long eventId, int attempts, string lastError);

    [LoggerMessage(803, LogLevel.Error, "Webhook {Url} stopped sending (its store failed); it goes on from its cursor at the next start")]
    public static partial void WebhookStopped(ILogger logger, string url, Exception exception);

    [LoggerMessage(804, LogLevel.Warning, "Could not prune the event log; it tries again at its next pruning")]
    public static partial void EventsNotPruned(ILogger logger, Exception exception);

    [LoggerMessage(805, LogLevel.Warning, "Could not read the shared event log; it is read again at the next event or look (events are delayed, not lost)")]
    public static partial void EventsNotFollowed(ILogger logger, Exception exception);

    [LoggerMessage(806, LogLevel.Warning, "The notifications of events from other replicas are interrupted; reconnecting (the periodic look goes on)")]
    public static partial void EventNotificationsLost(ILogger logger, Exception exception);

    // 7xx: storage.
    [LoggerMessage(700, LogLevel.Error, "The {Store} failed during {Method} {Path}: {Error}")]
    public static partial void StoreFailed(ILogger logger, string store, string method, string path, string error);

    // 5xx: server identity.
    [LoggerMessage(500, LogLevel.Information, "Created a new server key at {Path}; public key {PublicKey}")]
    public static partial void ServerKeyCreated(ILogger logger, string path, string publicKey);

    [LoggerMessage(501, LogLevel.Information, "Loaded the server key from {Path}; public key {PublicKey}")]
    public static partial void ServerKeyLoaded(ILogger logger, string path, string publicKey);

    [LoggerMessage(502, LogLevel.Warning, "The server key file {Path} is readable by others ({Mode}); restrict it to its owner (chmod 600)")]
    public static partial void ServerKeyFileTooOpen(ILogger logger, string path, UnixFileMode mode);

    // 6xx: HTTP API access.
    [LoggerMessage(600, LogLevel.Warning, "The HTTP API is reachable beyond loopback ({Addresses}) and Management:ApiToken is not set. Generated API token for this run (send it as 'Authorization: Bearer <token>'): {Token}")]
    public static partial void ApiTokenGenerated(ILogger logger, string addresses, string token);

    [LoggerMessage(601, LogLevel.Warning, "Refused an HTTP API request without a valid bearer token: {Method} {Path} from {RemoteAddress}")]
    public static partial void ApiRequestUnauthorized(ILogger logger, string method, string path, string? remoteAddress);

    [LoggerMessage(602, LogLevel.Warning, "Refused a job for peer {PeerId}: more than {JobsPerSecond} jobs a second (burst {Burst})")]
    public static partial void JobCreationRateLimited(ILogger logger, string peerId, int jobsPerSecond, int burst);
}
