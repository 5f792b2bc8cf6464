using System.Net;
using System.Net.Http.Json;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Reactive.Management.Crypto;
using Reactive.Management.Events;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary><c>GET /api/events</c> over real Kestrel, read by a plain HTTP client that parses the event stream.</summary>
public sealed class EventsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-events-").FullName;
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();

    [Fact]
    public async Task A_jobs_life_and_its_peers_stream_arrive_as_events_in_order_with_growing_ids()
    {
        await using var server = await ManagementServer.StartAsync(folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        await using var events = await SseClient.ConnectAsync(server.Api, $"/api/events?peer_id={peerId}");
        Assert.Equal("text/event-stream", events.Response.Content.Headers.ContentType?.MediaType);

        var (stream, firstJob) = await server.ConnectAndAwaitJobAsync(_peer);
        await using (stream)
        {
            var jobId = await server.Api.CreateJobAsync(peerId);
            var request = await firstJob;
            stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "k" } });

            var seen = new List<SseEvent>();
            while (seen.Count < 4)
            {
                seen.Add(await events.NextAsync());
            }

            Assert.Equal(["peer.connected", "job.created", "job.sent", "job.succeeded"], seen.Select(item => item.Type));
            Assert.True(seen.Zip(seen.Skip(1)).All(pair => pair.First.Id < pair.Second.Id), "ids grow");
            Assert.All(seen.Skip(1), item => Assert.Equal(jobId, item.Data.GetProperty("job_id").GetString()));
            Assert.All(seen, item => Assert.Equal(peerId, item.Data.GetProperty("peer_id").GetString()));
            Assert.All(seen, item => Assert.Equal(item.Id, item.Data.GetProperty("id").GetInt64()));
        }

        // The stream's end is an event too, with its reason.
        var ended = await events.NextAsync();
        Assert.Equal("peer.disconnected", ended.Type);
        Assert.Equal("cancelled", ended.Data.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_job_waiting_for_its_peer_is_sent_after_the_event_of_the_stream_it_goes_out_on()
    {
        // With a file the job's events are written by the job's own transaction, the stream's by the feed: 200 peers
        // whose job waits, dialing at once, so that a stream's event late to the log shows (it did, 3 of 3 runs, while
        // the stream went on without waiting for its event to be appended).
        const int Peers = 200;
        await using var server = await ManagementServer.StartAsync(folder: _folder);
        var keys = Enumerable.Range(0, Peers).Select(_ => WireGuardKeyPair.Generate()).ToList();
        var jobOf = new Dictionary<string, string>();
        foreach (var key in keys)
        {
            var peerId = await server.RegisterAsync(key);
            jobOf[peerId] = await server.Api.CreateJobAsync(peerId);
        }

        await using var events = await SseClient.ConnectAsync(server.Api, "/api/events", lastEventId: 0);
        var streams = await Task.WhenAll(keys.Select(key => server.ConnectAsync(key)));
        try
        {
            var seen = new List<SseEvent>();
            while (seen.Count(item => item.Type == "job.sent") < Peers || seen.Count(item => item.Type == "peer.connected") < Peers)
            {
                seen.Add(await events.NextAsync());
            }

            foreach (var (peerId, jobId) in jobOf)
            {
                var connected = seen.Single(item => item.Type == "peer.connected" && item.Data.GetProperty("peer_id").GetString() == peerId);
                var sent = seen.Single(item => item.Type == "job.sent" && item.Data.GetProperty("job_id").GetString() == jobId);
                Assert.True(connected.Id < sent.Id, $"peer {peerId}: its job was sent (event {sent.Id}) before its stream opened (event {connected.Id})");
            }
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }

            keys.ForEach(key => key.Dispose());
        }
    }

    [Fact]
    public async Task A_client_that_reconnects_with_Last_Event_ID_after_a_host_restart_gets_every_event_it_missed_once()
    {
        long lastSeen;
        var missed = new List<string>();
        string peerId;
        await using (var before = await ManagementServer.StartAsync(folder: _folder))
        {
            peerId = await before.RegisterAsync(_peer);
            await using (var events = await SseClient.ConnectAsync(before.Api, "/api/events"))
            {
                await before.Api.CreateJobAsync(peerId);
                lastSeen = (await events.NextAsync()).Id;
            }

            // Made while no client listens: kept in the file.
            for (var i = 0; i < 3; i++)
            {
                missed.Add(await before.Api.CreateJobAsync(peerId));
            }
        }

        await using var after = await ManagementServer.StartAsync(folder: _folder);
        await using var resumed = await SseClient.ConnectAsync(after.Api, "/api/events", lastSeen);
        var live = await after.Api.CreateJobAsync(peerId);

        var got = new List<SseEvent>();
        while (got.Count < 4)
        {
            got.Add(await resumed.NextAsync());
        }

        Assert.Equal([.. missed, live], got.Select(item => item.Data.GetProperty("job_id").GetString()));
        Assert.All(got, item => Assert.Equal("job.created", item.Type));
        Assert.True(got[0].Id > lastSeen && got.Zip(got.Skip(1)).All(pair => pair.First.Id < pair.Second.Id));
    }

    [Fact]
    public async Task Filters_keep_what_was_asked_for_and_bad_ones_or_pruned_ids_are_refused_clearly()
    {
        await using var server = await ManagementServer.StartAsync(folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        using var otherKeys = WireGuardKeyPair.Generate();
        var otherId = await server.RegisterAsync(otherKeys, "other");
        await using var cancelledOnly = await SseClient.ConnectAsync(server.Api, $"/api/events?types=job.cancelled&peer_id={otherId}");
        await server.Api.CreateJobAsync(peerId);
        var otherJob = await server.Api.CreateJobAsync(otherId);
        using (await server.Api.DeleteAsync($"/api/peers/{otherId}/jobs/{otherJob}"))
        {
        }

        var only = await cancelledOnly.NextAsync();
        Assert.Equal("job.cancelled", only.Type);
        Assert.Equal(otherJob, only.Data.GetProperty("job_id").GetString());
        Assert.Equal("cancelled through the API", only.Data.GetProperty("detail").GetString());

        foreach (var (query, status, words) in new[]
        {
            ("types=job.exploded", HttpStatusCode.BadRequest, "not an event type"),
            ("batch_id=nope", HttpStatusCode.BadRequest, "batch_id"),
            ("last_event_id=abc", HttpStatusCode.BadRequest, "Last-Event-ID"),
            ("last_event_id=999999", HttpStatusCode.BadRequest, "beyond the newest event"),
        })
        {
            using var refused = await server.Api.GetAsync($"/api/events?{query}");
            Assert.Equal(status, refused.StatusCode);
            Assert.Contains(words, await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Everything pruned (as the retention does): an id before that is gone, said with 410; the newest is fine.
        var (_, newest) = await server.Service<IEventLog>().RangeAsync();
        await server.Service<IEventLog>().PruneAsync(DateTimeOffset.MaxValue);
        using var gone = await server.Api.GetAsync("/api/events?last_event_id=1");
        Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
        Assert.Contains("no longer kept", await gone.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await using var fromNewest = await SseClient.ConnectAsync(server.Api, "/api/events", newest);
        Assert.Equal(HttpStatusCode.OK, fromNewest.Response.StatusCode);
    }

    [Fact]
    public async Task Silence_on_the_event_stream_is_broken_by_keep_alive_comments()
    {
        await using var server = await ManagementServer.StartAsync(options => options.EventsKeepAliveInterval = TimeSpan.FromMilliseconds(100), folder: _folder);
        await using var events = await SseClient.ConnectAsync(server.Api, "/api/events");

        // What the operator is (proven in virtual time in HeartbeatObservableExtensionsTests), seen end to end.
        await Eventually.TrueAsync(() => events.Comments >= 3, "three keep-alive comments");
    }

    [Fact]
    public async Task A_client_that_does_not_read_is_dropped_and_recording_never_waits_for_it()
    {
        var log = new InMemoryEventLog();
        using var board = new JobBoard(new InMemoryJobStore(), new JobHub(), System.Reactive.Concurrency.Scheduler.Default);
        using var feed = new EventFeed(log, board, System.Reactive.Concurrency.Scheduler.Default, TimeSpan.FromHours(1), NullLogger<EventFeed>.Instance);
        var peer = new Peer("p", _peer.PublicKey, "p", DateTimeOffset.UnixEpoch);
        using var blocked = new ManualResetEventSlim();
        var received = 0;
        var ended = feed.Since(null).Do(_ =>
        {
            // The client takes one event and then stops reading.
            if (Interlocked.Increment(ref received) == 1)
            {
                blocked.Wait(TimeSpan.FromSeconds(30));
            }
        }).LastOrDefaultAsync().ToTask();

        for (var i = 0; i < EventFeed.ClientBuffer + 100; i++)
        {
            _ = feed.PeerConnectedAsync(peer, DateTimeOffset.UnixEpoch.AddSeconds(i));
        }

        // Every event is recorded while the client holds its first one.
        await Eventually.TrueAsync(async () => (await log.RangeAsync()).Newest == EventFeed.ClientBuffer + 100, "every event recorded");
        blocked.Set();
        await Assert.ThrowsAsync<SlowEventClientException>(() => ended);
        Assert.True(received <= EventFeed.ClientBuffer + 1, $"the dropped client got {received} events");
    }

    public void Dispose()
    {
        _peer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
