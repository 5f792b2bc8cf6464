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
internal static class ManagementApi
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 500;
    private const string IdempotencyKeyHeader = "Idempotency-Key";
    private const string IdempotentReplayedHeader = "Idempotent-Replayed";
    private const int MaxIdempotencyKeyLength = 255;

    /// <summary>The largest API request body, in bytes; the largest real one (a job with its workload) is under 1 KiB.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    public static RouteGroupBuilder MapManagementApi(this RouteGroupBuilder api)
    {
        api.AddEndpointFilter(RequireAccessAsync);
        api.AddEndpointFilter(AnswerStoreFailuresAsync);
        var peers = api.MapGroup("/peers");
        peers.MapPost("/", CreatePeerAsync);
        peers.MapGet("/", ListPeersAsync);
        peers.MapGet("/{peerId}", GetPeerAsync);
        peers.MapPost("/{peerId}/jobs", CreateJobAsync);
        peers.MapGet("/{peerId}/jobs", ListJobsAsync);
        peers.MapGet("/{peerId}/jobs/{jobId}", GetJobAsync);
        peers.MapDelete("/{peerId}/jobs/{jobId}", CancelJobAsync);
        return api;
    }

    private static async ValueTask<object?> RequireAccessAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var services = http.RequestServices;
        if (services.GetRequiredService<ApiAccess>().IsAllowed(http.Request))
        {
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

    private static async Task<IResult> CreatePeerAsync(HttpRequest request, IPeerRegistry registry, IStreamOwnership ownership, CancellationToken cancellationToken)
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
        var response = await PeerResponse.FromAsync(peer, ownership, cancellationToken);
        return created
            ? Results.Json(response, ApiJson.Options, statusCode: StatusCodes.Status201Created)
            : Results.Json(response, ApiJson.Options);
    }

    private static async Task<IResult> ListPeersAsync(IPeerRegistry registry, IStreamOwnership ownership, CancellationToken cancellationToken)
    {
        var peers = await registry.ListAsync(cancellationToken);
        var responses = new List<PeerResponse>(peers.Count);
        foreach (var peer in peers)
        {
            responses.Add(await PeerResponse.FromAsync(peer, ownership, cancellationToken));
        }

        return Results.Json(responses, ApiJson.Options);
    }

    private static async Task<IResult> GetPeerAsync(string peerId, IPeerRegistry registry, IStreamOwnership ownership, CancellationToken cancellationToken)
    {
        var peer = await registry.FindByIdAsync(peerId, cancellationToken);
        return peer is null ? PeerNotFound(peerId) : Results.Json(await PeerResponse.FromAsync(peer, ownership, cancellationToken), ApiJson.Options);
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

        var (body, error) = await ReadAsync<CreateJobRequest>(http.Request, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (body!.Workload is not { } workload)
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

        var idempotencyKey = http.Request.Headers[IdempotencyKeyHeader].ToString();
        if (idempotencyKey.Length > MaxIdempotencyKeyLength || idempotencyKey.Any(c => c is < '!' or > '~'))
        {
            return BadRequest($"{IdempotencyKeyHeader} must be 1 to {MaxIdempotencyKeyLength} visible ASCII characters (a UUID is a good one).");
        }

        var bundle = new BundleParameters
        {
            BundleFor = parameters.BundleFor,
            BundleForTime = parameters.BundleForTime,
            LogFileCount = parameters.LogFileCount,
            Anonymize = parameters.Anonymize,
        };

        if (!limiter.TryAcquire())
        {
            var settings = options.Value;
            metrics.ApiRefused("rate_limited");
            Log.JobCreationRateLimited(logger, peer.Id, settings.MaxJobsPerSecond, settings.JobCreationBurst);
            http.Response.Headers.RetryAfter = "1";
            return Results.Problem(
                statusCode: StatusCodes.Status429TooManyRequests,
                title: "Too many jobs",
                detail: $"The API creates at most {settings.MaxJobsPerSecond} jobs a second (bursts of {settings.JobCreationBurst}); retry after a second.");
        }

        var (job, created) = await board.CreateOnceAsync(peer, bundle, idempotencyKey.Length == 0 ? null : idempotencyKey, cancellationToken);
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

    private static async Task<IResult> CancelJobAsync(string peerId, string jobId, IPeerRegistry registry, JobBoard board, CancellationToken cancellationToken)
    {
        var (job, error) = await FindJobAsync(peerId, jobId, registry, board, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var (current, outcome) = await board.CancelAsync(job!.Id, cancellationToken);
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

    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type", detail: "Send the body as application/json."));
        }

        // The limit applies before anything is parsed: a declared length over it is refused unread, and a body that
        // grows past it while being read stops the read.
        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, BodyTooLarge());
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBodySize)
        {
            maxBodySize.MaxRequestBodySize = MaxBodyBytes;
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
            return (null, BodyTooLarge());
        }
    }

    private static IResult BodyTooLarge() => Results.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Body too large",
        detail: $"A request body is at most {MaxBodyBytes} bytes.");

    private static IResult BadRequest(string detail) =>
        Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: detail);

    private static IResult JobNotFound(string peerId, string jobId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Job not found", detail: $"Peer '{peerId}' has no job '{jobId}'.");

    private static IResult PeerNotFound(string peerId) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Peer not found", detail: $"No peer has the id '{peerId}'.");
}
