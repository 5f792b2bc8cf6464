using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Reactive.Concurrency;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Events;
using Reactive.Management.Hosting;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>Webhooks against a real receiver (Kestrel on loopback) that fails, hangs and recovers.</summary>
public sealed class WebhookTests : IDisposable
{
    private const string Secret = "webhook-secret-0123456789";
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-webhooks-").FullName;
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();

    [Fact]
    public async Task Events_reach_the_receiver_signed_and_in_order_through_a_failure_and_a_hang_while_jobs_go_on()
    {
        await using var receiver = await WebhookReceiver.StartAsync(LoopbackPorts.Free(), "fail", "hang");
        await using var server = await ManagementServer.StartAsync(options => options.Webhooks.Add(Hook(receiver.Url, [ManagementEventTypes.JobCreated, ManagementEventTypes.JobCancelled])), folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        var jobId = await server.Api.CreateJobAsync(peerId);
        using (await server.Api.DeleteAsync($"/api/peers/{peerId}/jobs/{jobId}"))
        {
        }

        // While the receiver fails and then hangs, a job still reaches its peer at once.
        var (stream, firstJob) = await server.ConnectAndAwaitJobAsync(_peer);
        await using (stream)
        {
            await server.Api.CreateJobAsync(peerId);
            await firstJob.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await Eventually.TrueAsync(() => receiver.Accepted.Count >= 3, "three events accepted", TimeSpan.FromSeconds(30));
        var accepted = receiver.Accepted.ToList();
        Assert.Equal(["job.created", "job.cancelled", "job.created"], accepted.Take(3).Select(delivery => delivery.Type));
        Assert.True(accepted.Zip(accepted.Skip(1)).All(pair => pair.First.EventId < pair.Second.EventId), "in event order");
        Assert.All(accepted, delivery =>
        {
            Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes(delivery.Body))), delivery.Signature);
            Assert.Equal(delivery.EventId, JsonDocument.Parse(delivery.Body).RootElement.GetProperty("id").GetInt64());
        });
        Assert.Equal(jobId, JsonDocument.Parse(accepted[0].Body).RootElement.GetProperty("job_id").GetString());
        // The first event was tried three times: refused, left hanging (timed out), accepted.
        Assert.Equal(3, receiver.Requests.Count(request => request == accepted[0].EventId));
    }

    [Fact]
    public async Task A_delivery_that_fails_every_try_is_listed_as_failed_and_the_next_event_still_goes()
    {
        await using var receiver = await WebhookReceiver.StartAsync(LoopbackPorts.Free(), "fail", "fail", "fail");
        await using var server = await ManagementServer.StartAsync(options => options.Webhooks.Add(Hook(receiver.Url, [ManagementEventTypes.JobCreated], maxAttempts: 3)), folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        var first = await server.Api.CreateJobAsync(peerId);
        var second = await server.Api.CreateJobAsync(peerId);

        await Eventually.TrueAsync(() => receiver.Accepted.Count == 1, "the second event accepted", TimeSpan.FromSeconds(30));
        Assert.Equal(second, JsonDocument.Parse(receiver.Accepted.Single().Body).RootElement.GetProperty("job_id").GetString());
        using var failed = JsonDocument.Parse(await server.Api.GetStringAsync("/api/webhooks/deliveries?status=failed"));
        var failure = Assert.Single(failed.RootElement.EnumerateArray());
        Assert.Equal("job.created", failure.GetProperty("event_type").GetString());
        Assert.Equal(3, failure.GetProperty("attempts").GetInt32());
        Assert.Equal("HTTP 500", failure.GetProperty("last_error").GetString());
        Assert.True(failure.GetProperty("event_id").GetInt64() < receiver.Accepted.Single().EventId);
        _ = first;
    }

    [Fact]
    public async Task Events_recorded_while_the_receiver_is_down_are_delivered_after_a_host_restart()
    {
        var port = LoopbackPorts.Free();
        var created = new List<string>();
        string peerId;
        // Nothing listens on the port: every try fails, and the next waits an hour.
        await using (var down = await ManagementServer.StartAsync(options => options.Webhooks.Add(Hook(new Uri($"http://127.0.0.1:{port}/hook"), [ManagementEventTypes.JobCreated], retryAfter: TimeSpan.FromHours(1))), folder: _folder))
        {
            peerId = await down.RegisterAsync(_peer);
            for (var i = 0; i < 3; i++)
            {
                created.Add(await down.Api.CreateJobAsync(peerId));
            }

            await Eventually.TrueAsync(async () => (await down.Service<IEventLog>().RangeAsync()).Newest >= 3, "three events recorded");
        }

        await using var receiver = await WebhookReceiver.StartAsync(port);
        await using var up = await ManagementServer.StartAsync(options => options.Webhooks.Add(Hook(receiver.Url, [ManagementEventTypes.JobCreated])), folder: _folder);

        await Eventually.TrueAsync(() => receiver.Accepted.Count >= 3, "the three events after the restart", TimeSpan.FromSeconds(30));
        Assert.Equal(created, receiver.Accepted.Select(delivery => JsonDocument.Parse(delivery.Body).RootElement.GetProperty("job_id").GetString()));
    }

    [Fact]
    public void The_wait_between_tries_doubles_up_to_five_minutes_with_up_to_half_taken_off()
    {
        var target = new WebhookTarget(new Uri("http://127.0.0.1/"), [], new HashSet<string>(), 10, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        Assert.Equal(TimeSpan.FromSeconds(1), target.RetryAfter(1, random: 1));
        Assert.Equal(TimeSpan.FromSeconds(8), target.RetryAfter(4, random: 1));
        Assert.Equal(TimeSpan.FromSeconds(4), target.RetryAfter(4, random: 0));
        Assert.Equal(TimeSpan.FromMinutes(5), target.RetryAfter(20, random: 1));
        Assert.Equal(TimeSpan.FromMinutes(2.5), target.RetryAfter(20, random: 0));
    }

    [Fact]
    public async Task Retries_wait_on_the_injected_scheduler_exactly_as_long_as_the_backoff_says()
    {
        // Virtual time: the receiver refuses three times; each retry must come exactly when the backoff says, not sooner.
        var scheduler = new TestScheduler();
        var calls = new ConcurrentQueue<long>();
        var log = new InMemoryEventLog();
        using var board = new JobBoard(new InMemoryJobStore(), new JobHub(), scheduler);
        using var feed = new EventFeed(log, board, scheduler, TimeSpan.FromHours(1), NullLogger<EventFeed>.Instance);
        var target = new WebhookTarget(new Uri("http://receiver.invalid/hook"), [1], new HashSet<string>(), 4, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));
        var handler = new CountingHandler(() => calls.Enqueue(scheduler.Clock), failures: 3);
        var store = new InMemoryWebhookStore();
        await store.SettleAsync(target.Url.ToString(), 0, null);
        // The dispatcher's own view of the clock, which counts the waits it schedules: the clock may only move once the
        // retry's wait is on it (moved before, the wait would start from the moved clock and the retry never come).
        var dispatcherTimers = new CountingScheduler(scheduler);
        await using var dispatcher = new WebhookDispatcher([target], feed, log, store, handler, dispatcherTimers, NullLogger<WebhookDispatcher>.Instance, seed: 7);
        dispatcher.Start();
        // Recorded whenever the loop starts: it reads the log after its cursor, having subscribed first.
        await feed.PeerConnectedAsync(new Peer("p", _peer.PublicKey, "p", DateTimeOffset.UnixEpoch), DateTimeOffset.UnixEpoch);

        var jitter = new Random(7);
        var expected = new List<long> { 0 };
        for (var failure = 1; failure <= 3; failure++)
        {
            await Eventually.TrueAsync(() => calls.Count == failure && dispatcherTimers.Waits == failure, $"try {failure}, and the wait for the next on the clock");
            var wait = target.RetryAfter(failure, jitter.NextDouble()).Ticks;
            scheduler.AdvanceBy(wait - 1);
            // One tick before its time the retry has not come (the pause only lets a wrongly due retry show itself).
            await Task.Delay(50);
            Assert.Equal(failure, calls.Count);
            scheduler.AdvanceBy(1);
            expected.Add(expected[^1] + wait);
        }

        await Eventually.TrueAsync(() => dispatcher.Delivered == 1, "the fourth try accepted");
        Assert.Equal(expected, calls.ToList());
    }

    public void Dispose()
    {
        _peer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private static WebhookOptions Hook(Uri url, string[] types, int maxAttempts = 8, TimeSpan? retryAfter = null)
    {
        var hook = new WebhookOptions { Url = url.ToString(), Secret = Secret, MaxAttempts = maxAttempts, FirstRetryAfter = retryAfter ?? TimeSpan.FromMilliseconds(50), Timeout = TimeSpan.FromMilliseconds(500) };
        foreach (var type in types)
        {
            hook.Types.Add(type);
        }

        return hook;
    }

    /// <summary>Refuses the first tries with 500, then accepts; calls <paramref name="called"/> on each try.</summary>
    /// <summary>Forwards to <paramref name="clock"/>, counting the waits scheduled after a delay.</summary>
    private sealed class CountingScheduler(IScheduler clock) : IScheduler
    {
        private int _waits;

        public int Waits => Volatile.Read(ref _waits);

        public DateTimeOffset Now => clock.Now;

        public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action) => clock.Schedule(state, action);

        public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action)
        {
            var scheduled = clock.Schedule(state, dueTime, action);
            Interlocked.Increment(ref _waits);
            return scheduled;
        }

        public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action)
        {
            var scheduled = clock.Schedule(state, dueTime, action);
            Interlocked.Increment(ref _waits);
            return scheduled;
        }
    }

    private sealed class CountingHandler(Action called, int failures) : HttpMessageHandler
    {
        private int _calls;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            called();
            // The answer comes a moment after the call is seen: the worst moment for a test that moved the clock on
            // seeing the call (the dispatcher would schedule its wait from the moved clock).
            await Task.Delay(100, CancellationToken.None);
            return new HttpResponseMessage(Interlocked.Increment(ref _calls) <= failures ? HttpStatusCode.InternalServerError : HttpStatusCode.OK);
        }
    }
}
