using System.Net.Http.Headers;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Events;

/// <summary>Where one webhook sends, and how it retries.</summary>
internal sealed record WebhookTarget(Uri Url, byte[] Secret, IReadOnlySet<string> Types, int MaxAttempts, TimeSpan FirstRetryAfter, TimeSpan Timeout)
{
    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The wait after the <paramref name="failures"/>-th failed try: <see cref="FirstRetryAfter"/> doubled per failure
    /// before it, at most <see cref="MaxRetryAfter"/>, of which a random half is taken off (so that many webhooks that
    /// failed together do not retry together).
    /// </summary>
    public TimeSpan RetryAfter(int failures, double random)
    {
        var full = Math.Min(MaxRetryAfter.Ticks, FirstRetryAfter.Ticks * Math.Pow(2, failures - 1));
        return TimeSpan.FromTicks((long)(full * (0.5 + (0.5 * random))));
    }
}

/// <summary>
/// Sends events to webhooks: for each, a loop that POSTs every event after its cursor in the event log (the log is the
/// outbox), signed (HMAC-SHA256), in order, retrying with backoff on the injected scheduler; a delivery that fails
/// every try is recorded as failed and the loop moves on. It runs beside everything else: a dead or slow receiver holds
/// up its own loop only, never a job.
/// </summary>
internal sealed class WebhookDispatcher : IAsyncDisposable
{
    private const int PageSize = 100;
    private readonly IReadOnlyList<WebhookTarget> _targets;
    private readonly EventFeed _feed;
    private readonly IEventLog _log;
    private readonly IWebhookStore _store;
    private readonly HttpClient _http;
    private readonly IScheduler _timers;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Random _jitter;
    private Task[] _running = [];

    public WebhookDispatcher(IReadOnlyList<WebhookTarget> targets, EventFeed feed, IEventLog log, IWebhookStore store, HttpMessageHandler handler, IScheduler timers, ILogger<WebhookDispatcher> logger, int? seed = null)
    {
        _targets = targets;
        _feed = feed;
        _log = log;
        _store = store;
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _timers = timers;
        _logger = logger;
        _jitter = seed is { } fixedSeed ? new Random(fixedSeed) : Random.Shared;
    }

    /// <summary>Deliveries made so far (accepted by their receiver).</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    private long _delivered;
    private int _disposed;

    public void Start() => _running = [.. _targets.Select(target => Task.Run(() => RunAsync(target, _stopping.Token)))];

    public async ValueTask DisposeAsync()
    {
        // Once: the host stops it, and then the container disposes it.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _http.Dispose();
        _stopping.Dispose();
    }

    private async Task RunAsync(WebhookTarget target, CancellationToken stopping)
    {
        var url = target.Url.ToString();
        // "Something new was recorded" as a level the loop takes; subscribed before the log is read.
        var recorded = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        using var live = _feed.Live.Subscribe(_ => recorded.Writer.TryWrite(true), _ => { });
        try
        {
            // With several replicas, one sends to this webhook at a time; the others wait here for their turn.
            await using var turn = await _store.TakeTurnAsync(url, stopping).ConfigureAwait(false);
            var cursor = await _store.CursorAsync(url, stopping).ConfigureAwait(false) ?? await StartAtNewestAsync(url, stopping).ConfigureAwait(false);
            var settled = cursor;
            while (!stopping.IsCancellationRequested)
            {
                var page = await _log.ReadAfterAsync(cursor, PageSize, stopping).ConfigureAwait(false);
                foreach (var item in page)
                {
                    cursor = item.Id;
                    if ((target.Types.Count == 0 || target.Types.Contains(item.Type)) &&
                        await DeliverAsync(target, item, stopping).ConfigureAwait(false) is { } failure)
                    {
                        // A failure is stored at once; delivered events move the cursor once a page (below).
                        await _store.SettleAsync(url, cursor, failure, stopping).ConfigureAwait(false);
                        settled = cursor;
                    }
                }

                if (settled != cursor)
                {
                    // One durable write per page, not per event: after a crash at most a page is sent again, and
                    // receivers de-duplicate on the event id (delivery is at least once).
                    await _store.SettleAsync(url, cursor, null, stopping).ConfigureAwait(false);
                    settled = cursor;
                }

                if (page.Count < PageSize)
                {
                    await recorded.Reader.ReadAsync(stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The host is stopping; the cursor says where to go on.
        }
        catch (Exception exception)
        {
            Log.WebhookStopped(_logger, url, exception);
        }
    }

    private async Task<long> StartAtNewestAsync(string url, CancellationToken stopping)
    {
        // A new webhook gets what happens from now on; its cursor is stored at once, so a restart does not skip ahead.
        var (_, newest) = await _log.RangeAsync(stopping).ConfigureAwait(false);
        await _store.SettleAsync(url, newest, null, stopping).ConfigureAwait(false);
        return newest;
    }

    /// <returns>null when the receiver accepted it; else the failure after the last try.</returns>
    private async Task<WebhookFailure?> DeliverAsync(WebhookTarget target, ManagementEvent item, CancellationToken stopping)
    {
        var body = Encoding.UTF8.GetBytes(EventJson.Serialize(item));
        var signature = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(target.Secret, body));
        var lastError = "";
        for (var attempt = 1; ; attempt++)
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                timeout.CancelAfter(target.Timeout);
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = new ByteArrayContent(body) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    request.Headers.Add("X-Reactive-Signature", signature);
                    request.Headers.Add("X-Reactive-Event-Id", item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    request.Headers.Add("X-Reactive-Event-Type", item.Type);
                    using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref _delivered);
                        return null;
                    }

                    lastError = $"HTTP {(int)response.StatusCode}";
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    lastError = $"no answer within {target.Timeout}";
                }
                catch (HttpRequestException exception)
                {
                    lastError = exception.Message;
                }
            }

            if (attempt >= target.MaxAttempts)
            {
                Log.WebhookDeliveryFailed(_logger, target.Url.ToString(), item.Id, attempt, lastError);
                return new WebhookFailure(target.Url.ToString(), item.Id, item.Type, attempt, lastError, _timers.Now);
            }

            double random;
            lock (_jitter)
            {
                random = _jitter.NextDouble();
            }

            await Observable.Timer(target.RetryAfter(attempt, random), _timers).ToTask(stopping).ConfigureAwait(false);
        }
    }
}
