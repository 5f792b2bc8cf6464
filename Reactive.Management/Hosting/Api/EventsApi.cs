using System.Reactive.Linq;
using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Diagnostics;
using Reactive.Management.Events;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Streams;

namespace Reactive.Management.Hosting.Api;

/// <summary>
/// <c>GET /api/events</c>: the host's events as Server-Sent Events, kept alive through proxies by the Job stream's own
/// operator (<see cref="HeartbeatObservableExtensions.WithHeartbeat{T}(IObservable{T}, TimeSpan, Func{T}, System.Reactive.Concurrency.IScheduler)"/>)
/// and written one at a time by its writer (<see cref="StreamWriterObservableExtensions.WriteAllAsync{T}(IObservable{T}, IAsyncStreamWriter{T}, StreamWritePolicy{T}, CancellationToken)"/>).
/// </summary>
internal static class EventsApi
{
    /// <summary>The comment line sent after every interval of silence.</summary>
    public const string KeepAlive = ": keep-alive\n\n";

    public static RouteGroupBuilder MapEventsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/events", StreamEventsAsync).WithMetadata(new RequiredScope(Hosting.ApiScopes.EventsRead))
            .WithTags("Events").WithSummary("Server-Sent Events: job and peer events as they happen; resume with Last-Event-ID (410 when pruned)")
            .WithMetadata(
                new ApiParameter("peer_id", "only this peer's events"),
                new ApiParameter("batch_id", "only this batch's jobs' events"),
                new ApiParameter("types", "comma-separated event types, e.g. job.failed,peer.disconnected"),
                new ApiParameter("last_event_id", "resume after this id (as the Last-Event-ID header)"),
                new ApiParameter("Last-Event-ID", "resume after this id: every event after it, then live", InHeader: true))
            .Produces<EventBody>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status410Gone);
        api.MapGet("/webhooks/deliveries", ListWebhookDeliveriesAsync).WithMetadata(new RequiredScope(Hosting.ApiScopes.EventsRead))
            .WithTags("Events").WithSummary("Webhook deliveries given up on after their last try")
            .WithMetadata(new ApiParameter("status", "failed (required: the only kind kept)"))
            .Produces<WebhookDeliveryModel[]>().ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    /// <summary>The webhook deliveries given up on after their last try, newest first (<c>status=failed</c>, the only kind kept).</summary>
    private static async Task<IResult> ListWebhookDeliveriesAsync(HttpRequest request, IWebhookStore store, CancellationToken cancellationToken)
    {
        if (request.Query["status"].ToString() != "failed")
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad request", "status=failed is required: delivered events are not kept one by one (each webhook keeps the id it has reached).");
        }

        var failures = await store.FailuresAsync(500, cancellationToken);
        return Results.Json(
            failures.Select(failure => new WebhookDeliveryModel(failure.Url, failure.EventId, failure.EventType, "failed", failure.Attempts, failure.LastError, failure.FailedAt)),
            ApiJson.Options);
    }

    private static async Task<IResult> StreamEventsAsync(
        HttpContext http,
        EventFeed feed,
        ManagementScheduler scheduler,
        IOptions<ManagementOptions> options,
        IHostApplicationLifetime lifetime,
        ILogger<EventFeed> logger)
    {
        var request = http.Request;
        var peerId = request.Query["peer_id"].ToString();
        Guid? batchId = null;
        if (request.Query["batch_id"].ToString() is { Length: > 0 } batchText)
        {
            if (!Guid.TryParse(batchText, out var parsed))
            {
                return Problem(StatusCodes.Status400BadRequest, "Bad request", $"batch_id must be a batch id (a UUID); got '{LogText.Escape(batchText)}'.");
            }

            batchId = parsed;
        }

        var types = request.Query["types"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if (types.FirstOrDefault(type => !ManagementEventTypes.All.Contains(type)) is { } unknown)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad request", $"types: '{LogText.Escape(unknown)}' is not an event type; the types are {string.Join(", ", ManagementEventTypes.All)}.");
        }

        // The browser's EventSource sends Last-Event-ID on reconnect; a client that cannot set headers uses the query.
        var lastText = request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } header ? header : request.Query["last_event_id"].ToString();
        long? lastId = null;
        if (lastText.Length > 0)
        {
            if (!long.TryParse(lastText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed))
            {
                return Problem(StatusCodes.Status400BadRequest, "Bad request", $"Last-Event-ID must be an event id this API sent; got '{LogText.Escape(lastText)}'.");
            }

            var (kept, oldest, newest) = await feed.CanResumeAfterAsync(parsed, http.RequestAborted);
            if (parsed > newest)
            {
                return Problem(StatusCodes.Status400BadRequest, "Bad request", $"Last-Event-ID {parsed} is beyond the newest event ({newest}); connect without it.");
            }

            if (!kept)
            {
                return Problem(
                    StatusCodes.Status410Gone,
                    "Events gone",
                    $"Events after {parsed} are no longer kept (the log keeps {options.Value.EventRetention} of events; the oldest kept is {oldest?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}). Read the current state through the API, then connect without Last-Event-ID.");
            }

            lastId = parsed;
        }

        var settings = options.Value;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        // nginx buffers responses unless told not to: an event must reach the client when it happens.
        http.Response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        using var end = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var writer = new SseWriter(http.Response);
        try
        {
            // Headers and a first line now: a proxy waiting for the response's first bytes would otherwise time out.
            await writer.WriteAsync("retry: 2000\n\n");
            await feed.Since(lastId)
                .Where(item => (peerId.Length == 0 || item.PeerId == peerId) && (batchId is null || item.BatchId == batchId) && (types.Count == 0 || types.Contains(item.Type)))
                .Select(Format)
                .WithHeartbeat(settings.EventsKeepAliveInterval, () => KeepAlive, scheduler.Timers)
                .WriteAllAsync(
                    writer,
                    new StreamWritePolicy<string>
                    {
                        // A keep-alive behind a pending write adds nothing.
                        SkipWhileBusy = frame => ReferenceEquals(frame, KeepAlive),
                        StuckWriteTimeout = settings.StuckWriteTimeout,
                        Scheduler = scheduler.Timers,
                    },
                    end.Token);
        }
        catch (Exception exception) when (exception is SlowEventClientException or StuckWriteException)
        {
            // A slow client is dropped, never waited for (its response is reset: a write may still be pending); it
            // reconnects with Last-Event-ID.
            Log.EventClientDropped(logger, http.Connection.RemoteIpAddress?.ToString(), exception.Message);
            http.Abort();
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException && end.IsCancellationRequested)
        {
            // The client left or the host is stopping.
        }

        return Results.Empty;
    }

    // Every client following the stream gets the same published event object: its frame is made once, not once a client.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ManagementEvent, string> Frames = [];

    /// <summary>One event as SSE: its id, its type as the event name, and its JSON.</summary>
    public static string Format(ManagementEvent item) =>
        Frames.GetValue(item, static item => $"id: {item.Id}\nevent: {item.Type}\ndata: {EventJson.Serialize(item)}\n\n");

    private static IResult Problem(int status, string title, string detail) => Results.Problem(statusCode: status, title: title, detail: detail);

    /// <summary>Writes SSE text to the response and flushes it, one write at a time (the writer operator sees to that).</summary>
    private sealed class SseWriter(HttpResponse response) : IAsyncStreamWriter<string>
    {
        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(string message) => WriteAsync(message, CancellationToken.None);

        public async Task WriteAsync(string message, CancellationToken cancellationToken)
        {
            await response.BodyWriter.WriteAsync(Encoding.UTF8.GetBytes(message), cancellationToken).ConfigureAwait(false);
            await response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
