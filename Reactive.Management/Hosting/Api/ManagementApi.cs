using System.Data.Common;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Replicas;

namespace Reactive.Management.Hosting.Api;

/// <summary>
/// The HTTP API, modelled on NetBird's: peers, and the jobs asked of them. Errors are problem-details
/// bodies (RFC 9457): 400 for bad input, 404 for unknown ids, 409 for a transition the job cannot make.
/// </summary>
internal static partial class ManagementApi
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 500;
    private const string IdempotencyKeyHeader = "Idempotency-Key";
    private const string IdempotentReplayedHeader = "Idempotent-Replayed";
    private const int MaxIdempotencyKeyLength = 255;

    /// <summary>The longest <c>upload_url</c> a workload may carry.</summary>
    private const int MaxUploadUrlLength = 2048;

    /// <summary>The largest API request body, in bytes; the largest real one (a job with its workload) is under 1 KiB.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    /// <summary>The largest batch body, in bytes: room for 10,000 peer ids of up to ~100 characters.</summary>
    private const int MaxBatchBodyBytes = 1024 * 1024;

    public static RouteGroupBuilder MapManagementApi(this RouteGroupBuilder api)
    {
        api.AddEndpointFilter(RequireAccessAsync);
        api.AddEndpointFilter(AnswerStoreFailuresAsync);
        // Every route can answer 401 and 403 (access) and 503 (store): said once here for the OpenAPI document.
        api.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        var peers = api.MapGroup("/peers").WithTags("Peers");
        peers.MapPost("/", CreatePeerAsync).WithMetadata(new RequiredScope(ApiScopes.PeersWrite))
            .WithSummary("Registers a peer by its WireGuard key (200 when it was registered already)")
            .WithMetadata(new JsonRequestBody(typeof(CreatePeerRequest))).Produces<PeerResponse>(StatusCodes.Status201Created).Produces<PeerResponse>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        peers.MapGet("/", ListPeersAsync).WithMetadata(new RequiredScope(ApiScopes.PeersRead))
            .WithSummary("Lists the peers, with their stream health").Produces<PeerResponse[]>();
        peers.MapGet("/{peerId}", GetPeerAsync).WithMetadata(new RequiredScope(ApiScopes.PeersRead))
            .WithSummary("One peer, with its stream health").Produces<PeerResponse>().ProducesProblem(StatusCodes.Status404NotFound);
        peers.MapPatch("/{peerId}", PatchPeerAsync).WithMetadata(new RequiredScope(ApiScopes.PeersWrite))
            .WithSummary("Sets whether the peer allows remote jobs (null: the server's default)")
            .WithMetadata(new JsonRequestBody(typeof(PatchPeerRequest))).Produces<PeerResponse>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        peers.MapPost("/{peerId}/jobs", CreateJobAsync).WithMetadata(new RequiredScope(ApiScopes.JobsWrite))
            .WithTags("Jobs").WithSummary("Asks the peer for a debug bundle (403 when the peer has not allowed remote jobs)")
            .WithMetadata(new ApiParameter(IdempotencyKeyHeader, "1 to 255 visible ASCII characters: the same key with the same workload gives the same job (200, Idempotent-Replayed: true), with another workload 422.", InHeader: true))
            .WithMetadata(new JsonRequestBody(typeof(CreateJobRequest))).Produces<JobResponseModel>(StatusCodes.Status201Created).Produces<JobResponseModel>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status429TooManyRequests);
        peers.MapGet("/{peerId}/jobs", ListJobsAsync).WithMetadata(new RequiredScope(ApiScopes.JobsRead))
            .WithTags("Jobs").WithSummary("The peer's jobs, newest first (X-Total-Count: all of them)")
            .WithMetadata(new ApiParameter("limit", $"1 to {MaxPageSize}, default {DefaultPageSize}"), new ApiParameter("offset", "0 or more, default 0"))
            .Produces<JobResponseModel[]>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        peers.MapGet("/{peerId}/jobs/{jobId}", GetJobAsync).WithMetadata(new RequiredScope(ApiScopes.JobsRead))
            .WithTags("Jobs").WithSummary("One job of the peer").Produces<JobResponseModel>().ProducesProblem(StatusCodes.Status404NotFound);
        peers.MapDelete("/{peerId}/jobs/{jobId}", CancelJobAsync).WithMetadata(new RequiredScope(ApiScopes.JobsWrite))
            .WithTags("Jobs").WithSummary("Cancels an unfinished job (409 when it has finished)").Produces<JobResponseModel>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapPost("/", CreateBatchAsync).WithMetadata(new RequiredScope(ApiScopes.JobsWrite))
            .WithSummary("Fans one workload out to many peers (peer_ids or all_peers), at most max_in_flight sent at once")
            .WithMetadata(new JsonRequestBody(typeof(CreateBatchRequest))).Produces<BatchCreatedResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status429TooManyRequests);
        jobs.MapGet("/", QueryJobsAsync).WithMetadata(new RequiredScope(ApiScopes.JobsRead))
            .WithSummary("Every job, newest first, filtered, paged by cursor")
            .WithMetadata(
                new ApiParameter("status", "pending, sent, succeeded, failed, timed_out or cancelled"),
                new ApiParameter("peer_id", "only this peer's jobs"),
                new ApiParameter("batch_id", "only this batch's jobs"),
                new ApiParameter("created_after", "an ISO 8601 time: only jobs created after it"),
                new ApiParameter("limit", $"1 to {JobQuery.MaxLimit}, default {JobQuery.DefaultLimit}"),
                new ApiParameter("cursor", "the next_cursor of the page before, unchanged"))
            .Produces<JobPageResponse>().ProducesProblem(StatusCodes.Status400BadRequest);
        var batches = api.MapGroup("/batches").WithTags("Jobs");
        batches.MapGet("/{batchId}", GetBatchAsync).WithMetadata(new RequiredScope(ApiScopes.JobsRead))
            .WithSummary("A batch: its counts per state and a page of its jobs")
            .WithMetadata(new ApiParameter("limit", $"1 to {JobQuery.MaxLimit}, default {JobQuery.DefaultLimit}"), new ApiParameter("cursor", "the next_cursor of the page before, unchanged"))
            .Produces<BatchResponse>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        batches.MapDelete("/{batchId}", CancelBatchAsync).WithMetadata(new RequiredScope(ApiScopes.JobsWrite))
            .WithSummary("Cancels a batch and every unfinished job of it").Produces<BatchResponse>().ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/stats", GetStats).WithMetadata(new RequiredScope(ApiScopes.PeersRead))
            .WithTags("Peers").WithSummary("This host's counters: streams held, heartbeats written (the console's charts)").Produces<StatsResponse>();
        return api;
    }

    private static async ValueTask<object?> RequireAccessAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var services = http.RequestServices;
        if (services.GetRequiredService<ApiAccess>().Identify(http.Request) is { } caller)
        {
            if (http.GetEndpoint()?.Metadata.GetMetadata<RequiredScope>() is { } required && !caller.Scopes.Contains(required.Scope))
            {
                services.GetRequiredService<ManagementMetrics>().ApiRefused("forbidden");
                return Results.Problem(
                    statusCode: StatusCodes.Status403Forbidden,
                    title: "Forbidden",
                    detail: $"The token '{caller.Name}' lacks the scope '{required.Scope}' that {http.Request.Method} {LogText.Escape(http.Request.Path)} needs.");
            }

            http.Items[typeof(ApiCaller)] = caller;
            return await next(context);
        }

        services.GetRequiredService<ManagementMetrics>().ApiRefused("unauthorized");
        Log.ApiRequestUnauthorized(services.GetRequiredService<ILogger<ApiAccess>>(), http.Request.Method, LogText.Escape(http.Request.Path), http.Connection.RemoteIpAddress?.ToString());
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: "The API needs 'Authorization: Bearer <token>' with the token of Management:ApiToken (or the one printed at start, log event 600).");
    }

    /// <summary>A store that fails (read-only file, disk full, database down) is the server's trouble, said as 503, never 500.</summary>
    private static async ValueTask<object?> AnswerStoreFailuresAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (DbException exception)
        {
            var http = context.HttpContext;
            var services = http.RequestServices;
            services.GetRequiredService<ManagementMetrics>().ApiRefused("store_unavailable");
            Log.StoreFailed(services.GetRequiredService<ILogger<StoreDescription>>(), services.GetRequiredService<StoreDescription>().Name, http.Request.Method, LogText.Escape(http.Request.Path), exception.Message);
            http.Response.Headers.RetryAfter = "5";
            return Results.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Store unavailable",
                detail: "The job store could not complete the request. /healthz says why (the server log too, event 700). Retry once it is healthy; send a job's Idempotency-Key again so that a job stored before the failure is not created twice.");
        }
    }

    private static async Task<IResult> CreatePeerAsync(HttpRequest request, IPeerRegistry registry, IStreamOwnership ownership, StreamHealth health, IOptions<ManagementOptions> options, CancellationToken cancellationToken)
    {
        var (body, error) = await ReadAsync<CreatePeerRequest>(request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (!WireGuardPublicKey.TryParse(body!.WgPubKey, out var key))
        {
            return BadRequest("wg_pub_key must be a WireGuard public key: 32 bytes in standard base64 (44 characters).");
        }

        if (key.IsLowOrder)
        {
            return BadRequest("wg_pub_key is a low-order Curve25519 point: it gives no shared secret, so its Job stream would always be refused.");
        }

        var name = string.IsNullOrWhiteSpace(body.Name) ? $"peer-{key.ToString()[..8]}" : body.Name.Trim();
        if (name.Length > 255)
        {
            return BadRequest("name must be at most 255 characters.");
        }

        var (peer, created) = await registry.RegisterAsync(key, name, cancellationToken);
        var response = await PeerResponse.FromAsync(peer, ownership, health, options.Value, cancellationToken);
        return created
            ? Results.Json(response, ApiJson.Options, statusCode: StatusCodes.Status201Created)
            : Results.Json(response, ApiJson.Options);
    }

    private static async Task<IResult> ListPeersAsync(IPeerRegistry registry, IStreamOwnership ownership, StreamHealth health, IOptions<ManagementOptions> options, CancellationToken cancellationToken)
    {
        var peers = await registry.ListAsync(cancellationToken);
        // One lookup for every peer's stream, not one per peer.
        var owners = await ownership.OwnersAsync([.. peers.Select(peer => peer.Key)], cancellationToken);
        var responses = peers.Select(peer => PeerResponse.From(peer, owners.GetValueOrDefault(peer.Key), ownership.Replica, health, options.Value)).ToList();
        return Results.Json(responses, ApiJson.Options);
    }

    private static IResult GetStats(JobHub hub, StreamHealth health, ManagementScheduler scheduler, IOptions<ManagementOptions> options) =>
        Results.Json(new StatsResponse(options.Value.ReplicaName, hub.ConnectedCount, health.Heartbeats, scheduler.Scheduler.Now), ApiJson.Options);

    private static async Task<IResult> GetPeerAsync(string peerId, IPeerRegistry registry, IStreamOwnership ownership, StreamHealth health, IOptions<ManagementOptions> options, CancellationToken cancellationToken)
    {
        var peer = await registry.FindByIdAsync(peerId, cancellationToken);
        return peer is null ? PeerNotFound(peerId) : Results.Json(await PeerResponse.FromAsync(peer, ownership, health, options.Value, cancellationToken), ApiJson.Options);
    }

    private static async Task<IResult> PatchPeerAsync(string peerId, HttpRequest request, IPeerRegistry registry, IStreamOwnership ownership, StreamHealth health, IOptions<ManagementOptions> options, CancellationToken cancellationToken)
    {
        var (body, error) = await ReadAsync<PatchPeerRequest>(request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var peer = await registry.SetRemoteJobsAllowedAsync(peerId, body!.RemoteJobsAllowed, cancellationToken);
        return peer is null ? PeerNotFound(peerId) : Results.Json(await PeerResponse.FromAsync(peer, ownership, health, options.Value, cancellationToken), ApiJson.Options);
    }

    private static async Task<IResult> CreateJobAsync(
        string peerId,
        HttpContext http,
        IPeerRegistry registry,
        JobBoard board,
        JobCreationLimiter limiter,
        IOptions<ManagementOptions> options,
        ManagementMetrics metrics,
        ILogger<JobBoard> logger,
        CancellationToken cancellationToken)
    {
        var peer = await registry.FindByIdAsync(peerId, cancellationToken);
        if (peer is null)
        {
            return PeerNotFound(peerId);
        }

        if (!options.Value.AllowsRemoteJobs(peer))
        {
            return RemoteJobsNotEnabled([peer.Id]);
        }

        var (body, error) = await ReadAsync<CreateJobRequest>(http.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (ReadBundle(body!.Workload, out var bundle) is { } badWorkload)
        {
            return badWorkload;
        }

        var idempotencyKey = http.Request.Headers[IdempotencyKeyHeader].ToString();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength || idempotencyKey.Any(c => c is < '!' or > '~'))
        {
            return BadRequest($"{IdempotencyKeyHeader} must be 1 to {MaxIdempotencyKeyLength} visible ASCII characters (a UUID is a good one).");
        }

        if (!limiter.TryAcquire())
        {
            return TooManyJobs(http, options.Value, metrics, logger, peer.Id);
        }

        var (job, created) = await board.CreateOnceAsync(peer, bundle, idempotencyKey.Length == 0 ? null : idempotencyKey, CallerName(http), cancellationToken);
        if (!created)
        {
            // A retry of a creation that happened (its answer may have been lost): the same job, as it stands now.
            if (!job.Bundle.Equals(bundle))
            {
                return Results.Problem(
                    statusCode: StatusCodes.Status422UnprocessableEntity,
                    title: "Idempotency key reused",
                    detail: $"{IdempotencyKeyHeader} '{idempotencyKey}' was used for job '{job.Id}' with a different workload; send a new key for a new job.");
            }

            http.Response.Headers[IdempotentReplayedHeader] = "true";
        }

        return Results.Json(JobResponseModel.From(job), ApiJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateBatchAsync(
        HttpContext http,
        IPeerRegistry registry,
        JobBoard board,
        JobCreationLimiter limiter,
        IOptions<ManagementOptions> options,
        ManagementMetrics metrics,
        ILogger<JobBoard> logger,
        CancellationToken cancellationToken)
    {
        var (body, error) = await ReadAsync<CreateBatchRequest>(http.Request, cancellationToken, MaxBatchBodyBytes);
        if (error is not null)
        {
            return error;
        }

        if (ReadBundle(body!.Workload, out var bundle) is { } badWorkload)
        {
            return badWorkload;
        }

        if ((body.PeerIds is null) == (body.AllPeers is not true))
        {
            return BadRequest("Send either peer_ids (a list of peer ids) or \"all_peers\": true, not both.");
        }

        if (body.MaxInFlight is { } cap && (cap < 1 || cap > JobBatch.MaxInFlightLimit))
        {
            return BadRequest($"max_in_flight must be 1 to {JobBatch.MaxInFlightLimit} (leave it out for no cap); got {cap}.");
        }

        var known = (await registry.ListAsync(cancellationToken)).ToDictionary(peer => peer.Id, StringComparer.Ordinal);
        List<Peer> peers;
        if (body.PeerIds is { } peerIds)
        {
            if (peerIds.Count == 0)
            {
                return BadRequest("peer_ids is empty; name at least one peer (or send \"all_peers\": true).");
            }

            if (peerIds.Count > JobBatch.MaxJobs)
            {
                return BadRequest($"A batch holds at most {JobBatch.MaxJobs} peers; peer_ids has {peerIds.Count}.");
            }

            var duplicates = peerIds.GroupBy(id => id, StringComparer.Ordinal).Where(group => group.Count() > 1).Select(group => group.Key).ToList();
            if (duplicates.Count > 0)
            {
                return PeerIdsProblem(StatusCodes.Status400BadRequest, "Duplicate peer ids", "peer_ids names these peers more than once (a batch has one job per peer)", "duplicate_peer_ids", duplicates);
            }

            var unknown = peerIds.Where(id => !known.ContainsKey(id)).ToList();
            if (unknown.Count > 0)
            {
                return PeerIdsProblem(StatusCodes.Status404NotFound, "Peers not found", "No peer has these ids", "unknown_peer_ids", unknown);
            }

            peers = [.. peerIds.Select(id => known[id])];
            var notAllowed = peers.Where(peer => !options.Value.AllowsRemoteJobs(peer)).Select(peer => peer.Id).ToList();
            if (notAllowed.Count > 0)
            {
                return RemoteJobsNotEnabled(notAllowed);
            }
        }
        else
        {
            // Every peer that allows remote jobs.
            peers = [.. known.Values.Where(options.Value.AllowsRemoteJobs).OrderBy(peer => peer.CreatedAt).ThenBy(peer => peer.Id, StringComparer.Ordinal)];
            if (peers.Count == 0)
            {
                return BadRequest("all_peers: no peer allows remote jobs yet.");
            }

            if (peers.Count > JobBatch.MaxJobs)
            {
                return BadRequest($"A batch holds at most {JobBatch.MaxJobs} peers and {peers.Count} allow remote jobs; send them in several batches with peer_ids.");
            }
        }

        // A batch is one creation for the rate limit: its size is bounded, and its sending is paced by max_in_flight.
        if (!limiter.TryAcquire())
        {
            return TooManyJobs(http, options.Value, metrics, logger, "(batch)");
        }

        var batch = await board.CreateBatchAsync(peers, bundle, body.MaxInFlight, CallerName(http), cancellationToken);
        return Results.Json(
            new BatchCreatedResponse(batch.Id.ToString(), batch.JobCount, batch.MaxInFlight),
            ApiJson.Options,
            statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> QueryJobsAsync(HttpRequest request, JobBoard board, CancellationToken cancellationToken)
    {
        if (ReadJobQuery(request, out var query) is { } badQuery)
        {
            return badQuery;
        }

        var peerId = request.Query["peer_id"].ToString();
        var batchId = request.Query["batch_id"].ToString();
        var createdAfter = request.Query["created_after"].ToString();
        var status = request.Query["status"].ToString();
        JobState? state = null;
        if (status.Length > 0)
        {
            if (!Enum.GetValues<JobState>().Any(candidate => candidate.ToName() == status))
            {
                return BadRequest($"status must be one of {string.Join(", ", Enum.GetValues<JobState>().Select(candidate => candidate.ToName()))}; got '{status}'.");
            }

            state = JobStateNames.Parse(status);
        }

        Guid? batch = null;
        if (batchId.Length > 0)
        {
            if (!Guid.TryParse(batchId, out var parsed))
            {
                return BadRequest($"batch_id must be a batch id (a UUID); got '{batchId}'.");
            }

            batch = parsed;
        }

        DateTimeOffset? after = null;
        if (createdAfter.Length > 0)
        {
            // RFC 3339 only: a time without its offset would be read in the server's time zone.
            if (!Rfc3339WithOffset().IsMatch(createdAfter) ||
                !DateTimeOffset.TryParse(createdAfter, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var parsed))
            {
                return BadRequest($"created_after must be an RFC 3339 time with its offset, e.g. 2026-11-27T08:00:00Z; got '{createdAfter}'.");
            }

            after = parsed;
        }

        var page = await board.QueryAsync(query with { State = state, PeerId = peerId.Length > 0 ? peerId : null, BatchId = batch, CreatedAfter = after }, cancellationToken);
        return Results.Json(JobPageResponse.From(page), ApiJson.Options);
    }

    private static async Task<IResult> GetBatchAsync(string batchId, HttpRequest request, JobBoard board, CancellationToken cancellationToken)
    {
        if (ReadJobQuery(request, out var query) is { } badQuery)
        {
            return badQuery;
        }

        var batch = Guid.TryParse(batchId, out var id) ? await board.FindBatchAsync(id, cancellationToken) : null;
        if (batch is null)
        {
            return BatchNotFound(batchId);
        }

        var counts = await board.CountBatchAsync(id, cancellationToken);
        var page = await board.QueryAsync(query with { BatchId = id }, cancellationToken);
        return Results.Json(BatchResponse.From(batch, counts, page), ApiJson.Options);
    }

    private static async Task<IResult> CancelBatchAsync(string batchId, HttpContext http, JobBoard board, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(batchId, out var id))
        {
            return BatchNotFound(batchId);
        }

        var (batch, cancelled) = await board.CancelBatchAsync(id, CallerName(http), cancellationToken);
        if (batch is null)
        {
            return BatchNotFound(batchId);
        }

        var counts = await board.CountBatchAsync(id, cancellationToken);
        var page = await board.QueryAsync(new JobQuery { BatchId = id }, cancellationToken);
        return Results.Json(BatchResponse.From(batch, counts, page, cancelled), ApiJson.Options);
    }

    /// <summary>Reads <c>limit</c> and <c>cursor</c>; null when they are good.</summary>
    private static IResult? ReadJobQuery(HttpRequest request, out JobQuery query)
    {
        query = new JobQuery();
        if (!TryQueryInt(request, "limit", JobQuery.DefaultLimit, 1, JobQuery.MaxLimit, out var limit))
        {
            return BadRequest($"limit must be 1 to {JobQuery.MaxLimit}.");
        }

        var cursorText = request.Query["cursor"].ToString();
        JobCursor? cursor = null;
        if (cursorText.Length > 0 && !JobCursor.TryParse(cursorText, out cursor))
        {
            return BadRequest("cursor is not one this API gave (send the next_cursor of the page before, unchanged).");
        }

        query = new JobQuery { Limit = limit, After = cursor };
        return null;
    }

    /// <summary>The workload as the peer receives it; null when it is good, else the problem to answer.</summary>
    private static IResult? ReadBundle(WorkloadRequest? workload, out BundleParameters bundle)
    {
        bundle = new BundleParameters();
        if (workload is null)
        {
            return BadRequest("workload is required.");
        }

        if (workload.Type != "bundle")
        {
            return BadRequest($"workload.type '{workload.Type}' is not supported; the supported type is 'bundle'.");
        }

        var parameters = workload.Parameters ?? new BundleParametersModel(false, 0, 0, false);
        if (parameters.BundleForTime < 0 || parameters.LogFileCount < 0)
        {
            return BadRequest("workload.parameters.bundle_for_time and log_file_count must not be negative.");
        }

        if (parameters.AnonymizeLevel is not (null or "default" or "strict"))
        {
            return BadRequest($"workload.parameters.anonymize_level must be 'default' or 'strict'; got '{LogText.Escape(parameters.AnonymizeLevel)}'.");
        }

        if (parameters.UploadUrl is { } uploadUrl &&
            (uploadUrl.Length > MaxUploadUrlLength || !Uri.TryCreate(uploadUrl, UriKind.Absolute, out var parsedUrl) || parsedUrl.Scheme is not ("https" or "http")))
        {
            return BadRequest($"workload.parameters.upload_url must be an absolute http(s) URL of at most {MaxUploadUrlLength} characters.");
        }

        bundle = new BundleParameters
        {
            BundleFor = parameters.BundleFor,
            BundleForTime = parameters.BundleForTime,
            LogFileCount = parameters.LogFileCount,
            Anonymize = parameters.Anonymize,
            AnonymizeLevel = parameters.AnonymizeLevel ?? "",
            UploadUrl = parameters.UploadUrl ?? "",
        };
        return null;
    }

    private static IResult TooManyJobs(HttpContext http, ManagementOptions settings, ManagementMetrics metrics, ILogger logger, string peerId)
    {
        metrics.ApiRefused("rate_limited");
        Log.JobCreationRateLimited(logger, peerId, settings.MaxJobsPerSecond, settings.JobCreationBurst);
        http.Response.Headers.RetryAfter = "1";
        return Results.Problem(
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many jobs",
            detail: $"The API creates at most {settings.MaxJobsPerSecond} jobs (or batches) a second (bursts of {settings.JobCreationBurst}); retry after a second.");
    }

    /// <summary>A problem that names the peer ids at fault: the first 20 in the text, all of them in an extension member.</summary>
    private static IResult PeerIdsProblem(int status, string title, string what, string member, List<string> peerIds) => Results.Problem(
        statusCode: status,
        title: title,
        detail: $"{what}: {string.Join(", ", peerIds.Take(20).Select(id => $"'{LogText.Escape(id)}'"))}{(peerIds.Count > 20 ? $" and {peerIds.Count - 20} more" : "")}.",
        extensions: new Dictionary<string, object?> { [member] = peerIds });

    private static async Task<IResult> ListJobsAsync(string peerId, HttpContext http, IPeerRegistry registry, JobBoard board, CancellationToken cancellationToken)
    {
        var peer = await registry.FindByIdAsync(peerId, cancellationToken);
        if (peer is null)
        {
            return PeerNotFound(peerId);
        }

        if (!TryQueryInt(http.Request, "limit", DefaultPageSize, 1, MaxPageSize, out var limit) ||
            !TryQueryInt(http.Request, "offset", 0, 0, int.MaxValue, out var offset))
        {
            return BadRequest($"limit must be 1 to {MaxPageSize} and offset 0 or more.");
        }

        var (page, total) = await board.ListAsync(peer.Id, offset, limit, cancellationToken);
        http.Response.Headers["X-Total-Count"] = total.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Json(page.Select(JobResponseModel.From), ApiJson.Options);
    }

    private static async Task<IResult> GetJobAsync(string peerId, string jobId, IPeerRegistry registry, JobBoard board, CancellationToken cancellationToken)
    {
        var (job, error) = await FindJobAsync(peerId, jobId, registry, board, cancellationToken);
        return error ?? Results.Json(JobResponseModel.From(job!), ApiJson.Options);
    }

    private static async Task<IResult> CancelJobAsync(string peerId, string jobId, HttpContext http, IPeerRegistry registry, JobBoard board, CancellationToken cancellationToken)
    {
        var (job, error) = await FindJobAsync(peerId, jobId, registry, board, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var (current, outcome) = await board.CancelAsync(job!.Id, CallerName(http), cancellationToken);
        return outcome switch
        {
            JobCancelOutcome.Cancelled => Results.Json(JobResponseModel.From(current!), ApiJson.Options),
            JobCancelOutcome.AlreadyFinished => Results.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "Job already finished",
                detail: $"Job '{jobId}' is {current!.State.ToName()}; only pending or sent jobs can be cancelled."),
            _ => JobNotFound(peerId, jobId),
        };
    }

    private static async Task<(Job? Job, IResult? Error)> FindJobAsync(string peerId, string jobId, IPeerRegistry registry, JobBoard board, CancellationToken cancellationToken)
    {
        var peer = await registry.FindByIdAsync(peerId, cancellationToken);
        if (peer is null)
        {
            return (null, PeerNotFound(peerId));
        }

        var job = Guid.TryParse(jobId, out var id) ? await board.FindAsync(id, cancellationToken) : null;
        return job is null || job.PeerId != peer.Id ? (null, JobNotFound(peerId, jobId)) : (job, null);
    }

    private static bool TryQueryInt(HttpRequest request, string name, int fallback, int min, int max, out int value)
    {
        value = fallback;
        var text = request.Query[name].ToString();
        return text.Length == 0 ||
            (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value) && value >= min && value <= max);
    }

    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken, int maxBytes = MaxBodyBytes)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type", detail: "Send the body as application/json."));
        }

        // The limit applies before anything is parsed: a declared length over it is refused unread, and a body that
        // grows past it while being read stops the read.
        if (request.ContentLength > maxBytes)
        {
            return (null, BodyTooLarge(maxBytes));
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBodySize)
        {
            maxBodySize.MaxRequestBodySize = maxBytes;
        }

        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, cancellationToken);
            return body is null ? (null, BadRequest("The body must be a JSON object.")) : (body, null);
        }
        catch (JsonException exception)
        {
            return (null, BadRequest($"The body is not valid JSON for this request: {exception.Message}"));
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, BodyTooLarge(maxBytes));
        }
    }

    private static IResult BodyTooLarge(int maxBytes) => Results.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Body too large",
        detail: $"A request body is at most {maxBytes} bytes.");

    private static IResult BadRequest(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: detail);

    private static IResult JobNotFound(string peerId, string jobId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Job not found", detail: $"Peer '{peerId}' has no job '{jobId}'.");

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex Rfc3339WithOffset();

    /// <summary>The name of the named token (<c>Management:ApiTokens</c>) that sent the request; null for the open API or <c>ApiToken</c>.</summary>
    private static string? CallerName(HttpContext http) =>
        http.Items[typeof(ApiCaller)] is ApiCaller caller && !ReferenceEquals(caller, ApiAccess.Everyone) ? caller.Name : null;

    /// <summary>403: the peers have not allowed remote jobs (NetBird's per-peer opt-in).</summary>
    private static IResult RemoteJobsNotEnabled(List<string> peerIds) => PeerIdsProblem(
        StatusCodes.Status403Forbidden,
        "Remote jobs not enabled",
        "remote jobs are not enabled on this peer (PATCH /api/peers/{id} with {\"remote_jobs_allowed\": true} allows them)",
        "not_allowed_peer_ids",
        peerIds);

    private static IResult BatchNotFound(string batchId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Batch not found", detail: $"No batch has the id '{LogText.Escape(batchId)}'.");

    private static IResult PeerNotFound(string peerId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Peer not found", detail: $"No peer has the id '{peerId}'.");
}
