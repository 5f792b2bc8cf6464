using System.Text.Json;
using System.Text.Json.Serialization;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;

namespace Reactive.Management.Hosting.Api;

/// <summary>The JSON shapes of the HTTP API, modelled on NetBird's (snake_case).</summary>
internal static class ApiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };
}

internal sealed record CreatePeerRequest(string? WgPubKey, string? Name);

/// <summary><c>PATCH /api/peers/{id}</c>: <c>remote_jobs_allowed</c> true or false, or null (or absent) for the host's default.</summary>
internal sealed record PatchPeerRequest(bool? RemoteJobsAllowed);

/// <summary>
/// A peer, with its streams' health as the replica answering knows it: <c>connected</c> and <c>replica</c> from every
/// replica; the rest from the replica that held the peer's streams (absent elsewhere: ask that replica).
/// </summary>
internal sealed record PeerResponse(
    string Id,
    string WgPubKey,
    string Name,
    bool Connected,
    string? Replica,
    DateTimeOffset CreatedAt,
    bool RemoteJobsAllowed,
    DateTimeOffset? StreamOpenedAt = null,
    DateTimeOffset? LastHeartbeatAt = null,
    DateTimeOffset? LastAnswerAt = null,
    int? StreamsOpened = null,
    StreamEndModel? LastStreamEnd = null)
{
    public static async Task<PeerResponse> FromAsync(Peer peer, Replicas.IStreamOwnership ownership, Internal.StreamHealth health, ManagementOptions options, CancellationToken cancellationToken) =>
        From(peer, await ownership.OwnerAsync(peer.Key, cancellationToken).ConfigureAwait(false), ownership.Replica, health, options);

    /// <summary>The peer as seen from <paramref name="thisReplica"/>, whose stream (if any) <paramref name="replica"/> holds.</summary>
    public static PeerResponse From(Peer peer, string? replica, string thisReplica, Internal.StreamHealth health, ManagementOptions options)
    {
        var response = new PeerResponse(peer.Id, peer.Key.ToString(), peer.Name, replica is not null, replica, peer.CreatedAt, options.AllowsRemoteJobs(peer));
        if (health.Find(peer.Id) is not { } streams)
        {
            return response;
        }

        var (openedAt, lastHeartbeatAt, lastAnswerAt, opened, lastEnd) = streams.Read();
        return response with
        {
            // The open stream's start only while it is open here.
            StreamOpenedAt = replica == thisReplica ? openedAt : null,
            LastHeartbeatAt = lastHeartbeatAt,
            LastAnswerAt = lastAnswerAt,
            StreamsOpened = opened,
            LastStreamEnd = lastEnd is { } end ? new StreamEndModel(end.At, end.Reason) : null,
        };
    }
}

internal sealed record StreamEndModel(DateTimeOffset At, string Reason);

internal sealed record CreateJobRequest(WorkloadRequest? Workload);

internal sealed record WorkloadRequest(string? Type, BundleParametersModel? Parameters);

internal sealed record BundleParametersModel(bool BundleFor, long BundleForTime, int LogFileCount, bool Anonymize, string? AnonymizeLevel = null, string? UploadUrl = null);

internal sealed record BundleResultModel(string? UploadKey);

internal sealed record WorkloadResponse(string Type, BundleParametersModel Parameters, BundleResultModel? Result);

internal sealed record JobResponseModel(
    string Id,
    string PeerId,
    string Status,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt,
    DateTimeOffset? CompletedAt,
    string? FailedReason,
    WorkloadResponse Workload,
    string? IdempotencyKey,
    string? BatchId,
    string? CreatedBy,
    string? CancelledBy)
{
    public static JobResponseModel From(Job job) => new(
        job.Id.ToString(),
        job.PeerId,
        job.State.ToName(),
        job.CreatedAt,
        job.SentAt,
        job.CompletedAt,
        job.FailedReason,
        new WorkloadResponse(
            "bundle",
            new BundleParametersModel(
                job.Bundle.BundleFor,
                job.Bundle.BundleForTime,
                job.Bundle.LogFileCount,
                job.Bundle.Anonymize,
                job.Bundle.AnonymizeLevel.Length == 0 ? null : job.Bundle.AnonymizeLevel,
                job.Bundle.UploadUrl.Length == 0 ? null : job.Bundle.UploadUrl),
            job.State == JobState.Succeeded ? new BundleResultModel(job.UploadKey) : null),
        job.IdempotencyKey,
        job.BatchId?.ToString(),
        job.CreatedBy,
        job.CancelledBy);
}

internal sealed record CreateBatchRequest(IReadOnlyList<string>? PeerIds, bool? AllPeers, WorkloadRequest? Workload, int? MaxInFlight);

internal sealed record BatchCreatedResponse(string Id, int Jobs, int? MaxInFlight);

/// <summary>A page of jobs: <c>next_cursor</c> is absent on the last page.</summary>
internal sealed record JobPageResponse(IEnumerable<JobResponseModel> Items, string? NextCursor)
{
    public static JobPageResponse From(JobPage page) => new(page.Jobs.Select(JobResponseModel.From), page.Next?.ToString());
}

internal sealed record BatchResponse(
    string Id,
    DateTimeOffset CreatedAt,
    int Jobs,
    int? MaxInFlight,
    DateTimeOffset? CancelledAt,
    IReadOnlyDictionary<string, int> Counts,
    IEnumerable<JobResponseModel> Items,
    string? NextCursor,
    int? Cancelled = null)
{
    public static BatchResponse From(JobBatch batch, IReadOnlyDictionary<JobState, int> counts, JobPage page, int? cancelled = null) => new(
        batch.Id.ToString(),
        batch.CreatedAt,
        batch.JobCount,
        batch.MaxInFlight,
        batch.CancelledAt,
        Enum.GetValues<JobState>().ToDictionary(state => state.ToName(), state => counts.GetValueOrDefault(state)),
        page.Jobs.Select(JobResponseModel.From),
        page.Next?.ToString(),
        cancelled);
}

/// <summary>This host's counters for <c>GET /api/stats</c>.</summary>
internal sealed record StatsResponse(string? Replica, int ConnectedPeers, long HeartbeatsSent, DateTimeOffset At);

/// <summary>A webhook delivery given up on, for <c>GET /api/webhooks/deliveries</c>.</summary>
internal sealed record WebhookDeliveryModel(string Url, long EventId, string EventType, string Status, int Attempts, string LastError, DateTimeOffset FailedAt);
