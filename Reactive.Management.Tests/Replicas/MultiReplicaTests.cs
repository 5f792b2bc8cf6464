using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Events;
using Reactive.Management.Hosting;
using Reactive.Management.Jobs;
using Reactive.Management.Replicas;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Replicas;

/// <summary>
/// Two management replicas (separate hosts, real Kestrel) over one PostgreSQL database and one server key: a job
/// reaches its peer whichever replica it was created on, exactly once, and survives the replica that held the peer.
/// </summary>
public sealed class MultiReplicaTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _keyFolder = Directory.CreateTempSubdirectory("reactive-management-replicas-").FullName;
    private string _database = "";

    public async Task InitializeAsync()
    {
        if (PostgresCluster.IsAvailable || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            _database = await PostgresCluster.CreateDatabaseAsync();
        }
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_keyFolder, recursive: true);
        return Task.CompletedTask;
    }

    [PostgresFact]
    public async Task A_job_created_on_one_replica_reaches_the_peer_on_another_and_its_answer_is_seen_from_the_first()
    {
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        using var peer = WireGuardKeyPair.Generate();
        var peerId = await a.RegisterAsync(peer);
        await using var stream = await b.ConnectAsync(peer);
        var received = new ConcurrentDictionary<Guid, long>();
        using var answering = stream.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
        {
            received[new Guid(request.ID.Span, bigEndian: true)] = Stopwatch.GetTimestamp();
            stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "from-b" } });
        });
        await Eventually.TrueAsync(() => b.Service<JobHub>().IsConnected(peer.PublicKey), "the peer's stream on replica B");

        // Seen from A: connected, held by B.
        using (var seen = JsonDocument.Parse(await a.Api.GetStringAsync($"/api/peers/{peerId}")))
        {
            Assert.True(seen.RootElement.GetProperty("connected").GetBoolean());
            Assert.Equal("replica-b", seen.RootElement.GetProperty("replica").GetString());
        }

        // 200 jobs through A's API, one after another: each must reach the peer on B; its answer is visible on A.
        var latencies = new List<double>();
        for (var i = 0; i < 200; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await a.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
            response.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var jobId = Guid.Parse(body.RootElement.GetProperty("id").GetString()!);
            Assert.Equal("pending", body.RootElement.GetProperty("status").GetString());
            await Eventually.TrueAsync(() => received.ContainsKey(jobId), $"job {i} to reach the peer on B", Patience);
            latencies.Add(Stopwatch.GetElapsedTime(started, received[jobId]).TotalMilliseconds);
            // B recorded the answer in the shared store; A's API reads it from there.
            await Eventually.TrueAsync(async () => await StatusOnAsync(a, peerId, jobId) == "succeeded", $"job {i} to read as succeeded on A", Patience);
        }

        latencies.Sort();
        output.WriteLine($"cross-replica delivery (create on A's API → received by the peer on B), 200 jobs: p50 {latencies[99]:F1} ms, p99 {latencies[197]:F1} ms, max {latencies[^1]:F1} ms");
    }

    [PostgresFact]
    public async Task Across_1000_jobs_created_on_both_replicas_nothing_is_lost_or_doubled()
    {
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        var peers = new List<(WireGuardKeyPair Keys, Peer Peer, JobStreamConnection Stream)>();
        var deliveries = new ConcurrentDictionary<Guid, int>();
        var subscriptions = new List<IDisposable>();
        for (var i = 0; i < 10; i++)
        {
            var keys = WireGuardKeyPair.Generate();
            var (peer, _) = await a.Service<IPeerRegistry>().RegisterAsync(keys.PublicKey, $"peer-{i}");
            // Half the peers on each replica.
            var stream = await (i % 2 == 0 ? b : a).ConnectAsync(keys);
            subscriptions.Add(stream.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
            {
                deliveries.AddOrUpdate(new Guid(request.ID.Span, bigEndian: true), 1, (_, count) => count + 1);
                stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded });
            }));
            peers.Add((keys, peer, stream));
        }

        await Eventually.TrueAsync(() => a.Service<JobHub>().ConnectedCount == 5 && b.Service<JobHub>().ConnectedCount == 5, "five peers on each replica");
        var created = new ConcurrentBag<Guid>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            var replica = i % 2 == 0 ? a : b;
            var job = await replica.Service<JobBoard>().CreateAsync(peers[i % peers.Count].Peer, new BundleParameters { LogFileCount = i }, ct);
            created.Add(job.Id);
        });

        // Answers are recorded by whichever replica holds the peer; the shared store shows them all.
        var store = a.Service<IJobStore>();
        await Eventually.TrueAsync(
            async () => (await Task.WhenAll(created.Select(id => store.FindAsync(id).AsTask()))).All(job => job!.IsFinished),
            "all 1,000 jobs to finish",
            TimeSpan.FromSeconds(60));
        var finished = await Task.WhenAll(created.Select(id => store.FindAsync(id).AsTask()));
        Assert.Equal(1000, created.Distinct().Count());
        Assert.All(finished, job => Assert.Equal(JobState.Succeeded, job!.State));
        // Nothing doubled even once each replica's poll has run twice more (a poll hint makes a replica deliver again).
        var polls = (A: Polls(a), B: Polls(b));
        await Eventually.TrueAsync(() => Polls(a) >= polls.A + 2 && Polls(b) >= polls.B + 2, "two more polls on each replica", TimeSpan.FromSeconds(20));
        Assert.Equal(1000, deliveries.Count);
        Assert.All(deliveries, delivery => Assert.True(delivery.Value == 1, $"job {delivery.Key} was delivered {delivery.Value} times"));
        output.WriteLine($"1,000 jobs (500 created on each replica, for 5 peers on each): all succeeded, each delivered once");

        foreach (var subscription in subscriptions)
        {
            subscription.Dispose();
        }

        foreach (var (keys, _, stream) in peers)
        {
            await stream.DisposeAsync();
            keys.Dispose();
        }
    }

    [PostgresFact]
    public async Task When_the_replica_holding_a_peer_stops_the_peer_redials_another_and_gets_every_unfinished_job()
    {
        await using var a = await StartReplicaAsync("replica-a");
        var b = await StartReplicaAsync("replica-b");
        using var keys = WireGuardKeyPair.Generate();
        var (peer, _) = await a.Service<IPeerRegistry>().RegisterAsync(keys.PublicKey, "roaming");
        var (onB, firstJob) = await b.ConnectAndAwaitJobAsync(keys);

        // Sent on B, never answered; then B stops.
        var sent = await a.Service<JobBoard>().CreateAsync(peer, new BundleParameters { LogFileCount = 1 });
        Assert.Equal(JobIds.ToWire(sent.Id), (await firstJob.WaitAsync(Patience)).ID);
        await b.DisposeAsync();
        await onB.DisposeAsync();

        // Created while the peer has no stream anywhere.
        var pending = await a.Service<JobBoard>().CreateAsync(peer, new BundleParameters { LogFileCount = 2 });
        Assert.Equal(JobState.Pending, pending.State);

        // The peer re-dials A (as it would through the load balancer): both jobs arrive, oldest first.
        await using var onA = await a.ConnectAsync(keys);
        var jobs = await onA.Requests.Where(request => !request.IsHeartbeat()).Take(2).ToList().ToTask().WaitAsync(Patience);
        Assert.Equal([JobIds.ToWire(sent.Id), JobIds.ToWire(pending.Id)], jobs.Select(job => job.ID));
        foreach (var job in jobs)
        {
            onA.Answer(new JobResponse { ID = job.ID, Status = JobStatus.Succeeded });
        }

        Assert.Equal(JobState.Succeeded, (await a.Service<JobBoard>().WhenFinishedAsync(sent.Id).WaitAsync(Patience)).State);
        Assert.Equal(JobState.Succeeded, (await a.Service<JobBoard>().WhenFinishedAsync(pending.Id).WaitAsync(Patience)).State);
        using var seen = JsonDocument.Parse(await a.Api.GetStringAsync($"/api/peers/{peer.Id}"));
        Assert.Equal("replica-a", seen.RootElement.GetProperty("replica").GetString());
    }

    [PostgresFact(WithHaproxy = true)]
    public async Task Behind_HAProxy_a_peer_whose_replica_stops_redials_through_it_to_the_other_and_gets_its_job()
    {
        var a = await StartReplicaAsync("replica-a");
        var b = await StartReplicaAsync("replica-b");
        await using var proxy = await Proxies.ReverseProxy.StartAsync(
            Proxies.ProxyKind.Haproxy, a.Address.Port, TimeSpan.FromSeconds(10), "haproxy-replicas.cfg.template", b.Address.Port);
        try
        {
            using var keys = WireGuardKeyPair.Generate();
            var (peer, _) = await a.Service<IPeerRegistry>().RegisterAsync(keys.PublicKey, "behind-haproxy");
            using var client = JobStreamClient.Create(proxy.Address, keys, new JobStreamClientOptions
            {
                LivenessTimeout = TimeSpan.FromSeconds(3),
                InitialBackoff = TimeSpan.FromMilliseconds(50),
                MaxBackoff = TimeSpan.FromMilliseconds(500),
            });
            using var answering = client.Jobs.Subscribe(job => client.Answer(new JobResponse { ID = job.ID, Status = JobStatus.Succeeded }));
            client.Start();
            await Eventually.TrueAsync(() => a.Service<JobHub>().IsConnected(keys.PublicKey) || b.Service<JobHub>().IsConnected(keys.PublicKey), "the peer's stream on a replica", Patience);
            var (holder, survivor) = a.Service<JobHub>().IsConnected(keys.PublicKey) ? (a, b) : (b, a);

            // A job created on the replica that does not hold the stream goes across.
            var across = await survivor.Service<JobBoard>().CreateAsync(peer, new BundleParameters { LogFileCount = 1 });
            await WaitForStateAsync(survivor, across.Id, JobState.Succeeded);

            // The holder stops; a job is created meanwhile; the client re-dials through HAProxy and lands on the survivor.
            await holder.DisposeAsync();
            var meanwhile = await survivor.Service<JobBoard>().CreateAsync(peer, new BundleParameters { LogFileCount = 2 });
            await WaitForStateAsync(survivor, meanwhile.Id, JobState.Succeeded);
            Assert.True(survivor.Service<JobHub>().IsConnected(keys.PublicKey));
            Assert.True(client.Dials >= 2, $"the client dialed {client.Dials} time(s)");
            output.WriteLine($"behind HAProxy: stream first on {(holder == a ? "A" : "B")}, {client.Dials} dials in all; both jobs succeeded");
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    [PostgresFact]
    public async Task A_batch_capped_at_5_over_peers_on_two_replicas_never_has_more_than_5_sent_in_the_shared_store()
    {
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        await InstallSentCounterAsync();
        await using var fleet = await AnsweringPeers.RegisterAsync(a.Service<IPeerRegistry>(), 40, seed: 5);
        var started = Stopwatch.GetTimestamp();
        using var response = await a.Api.PostAsJsonAsync("/api/jobs", new { all_peers = true, workload = new { type = "bundle" }, max_in_flight = 5 });
        response.EnsureSuccessStatusCode();
        var batchId = Guid.Parse(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!);

        // Then every peer connects at once, half to each replica: 40 streams open and try to send their pending job
        // together on two replicas, and only the store sees both. Later sends race the same way on each poll.
        await Task.WhenAll(
            Task.Run(() => fleet.ConnectAsync(a, 0, 20, maxAnswerDelay: TimeSpan.FromMilliseconds(30))),
            Task.Run(() => fleet.ConnectAsync(b, 20, 40, maxAnswerDelay: TimeSpan.FromMilliseconds(30))));

        await Eventually.TrueAsync(
            async () => (await a.Service<JobBoard>().CountBatchAsync(batchId)).GetValueOrDefault(JobState.Succeeded) == 40,
            "all 40 jobs answered",
            TimeSpan.FromSeconds(60));
        output.WriteLine($"40 peers on two replicas, max_in_flight 5: all answered in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms");
        Assert.Equal(40, fleet.Deliveries.Count);
        Assert.All(fleet.Deliveries.Values, times => Assert.Equal(1, times));
        var sentCounts = await SentCountsAsync();
        Assert.Equal(40, sentCounts.Count);
        Assert.True(sentCounts.Max() == 5, $"the most jobs sent at once was {sentCounts.Max()}; the cap is 5");
    }

    [PostgresFact]
    public async Task A_peers_opt_out_set_on_one_replica_is_honoured_by_the_other_within_seconds()
    {
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        using var peer = WireGuardKeyPair.Generate();
        var peerId = await a.RegisterAsync(peer);
        // B knows the peer (and keeps it) before A changes it.
        using (var first = await b.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } }))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, first.StatusCode);
        }

        using (await a.Api.PatchAsJsonAsync($"/api/peers/{peerId}", new { remote_jobs_allowed = false }))
        {
        }

        var started = Stopwatch.StartNew();
        await Eventually.TrueAsync(
            async () =>
            {
                using var attempt = await b.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
                return attempt.StatusCode == System.Net.HttpStatusCode.Forbidden;
            },
            "replica B to refuse jobs for the peer that opted out on A",
            TimeSpan.FromSeconds(30));
        output.WriteLine($"the opt-out set on A reached B's job creation after {started.Elapsed.TotalSeconds:F1} s (B reads a kept peer again after 5 s)");
    }

    [PostgresFact]
    public async Task Listing_300_peers_takes_a_few_database_queries_not_one_per_peer_and_shows_which_replica_holds_each_stream()
    {
        const int Peers = 300;
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        await using var fleet = await AnsweringPeers.RegisterAsync(a.Service<IPeerRegistry>(), Peers, seed: 29);
        // Two peers on A, three on B, the rest offline.
        await fleet.ConnectAsync(a, 0, 2, maxAnswerDelay: TimeSpan.Zero);
        await fleet.ConnectAsync(b, 2, 5, maxAnswerDelay: TimeSpan.Zero);
        await Eventually.TrueAsync(() => a.Service<JobHub>().ConnectedCount == 2 && b.Service<JobHub>().ConnectedCount == 3, "five streams open");

        // Every query this test's database runs while A lists its peers (the replicas' own loops add a few).
        var database = new Npgsql.NpgsqlConnectionStringBuilder(_database).Database;
        var queries = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.TagObjects.Any(tag => tag.Value is string text && text == database))
                {
                    Interlocked.Increment(ref queries);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        using var listed = JsonDocument.Parse(await a.Api.GetStringAsync("/api/peers"));
        var used = Volatile.Read(ref queries);
        output.WriteLine($"listing {Peers} peers: {used} queries on the database meanwhile");

        var byId = listed.RootElement.EnumerateArray().ToDictionary(peer => peer.GetProperty("id").GetString()!);
        Assert.Equal(Peers, byId.Count);
        for (var i = 0; i < Peers; i++)
        {
            var peer = byId[fleet.Peers[i].Peer.Id];
            var replica = i switch { < 2 => "replica-a", < 5 => "replica-b", _ => null };
            Assert.Equal(replica is not null, peer.GetProperty("connected").GetBoolean());
            Assert.Equal(replica, peer.TryGetProperty("replica", out var holder) ? holder.GetString() : null);
        }

        // One query per peer would be 300 or more.
        Assert.True(used is > 0 and < 20, $"listing {Peers} peers ran {used} queries");
    }

    [PostgresFact]
    public async Task Events_of_both_replicas_reach_event_clients_on_each_in_one_order_and_resume_on_either()
    {
        await using var a = await StartReplicaAsync("replica-a");
        await using var b = await StartReplicaAsync("replica-b");
        // From the log's start (id 0): each client gets every event, whenever its subscription began.
        await using var onA = await SseClient.ConnectAsync(a.Api, "/api/events", lastEventId: 0);
        await using var onB = await SseClient.ConnectAsync(b.Api, "/api/events", lastEventId: 0);
        using var peer = WireGuardKeyPair.Generate();
        var peerId = await a.RegisterAsync(peer);
        await using var stream = await b.ConnectAsync(peer);
        using var answering = stream.Requests.Where(request => !request.IsHeartbeat())
            .Subscribe(request => stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded }));
        // The stream's opening, recorded by B, seen on A.
        var connected = await onA.NextAsync(Patience);
        Assert.Equal("peer.connected", connected.Type);

        // 20 jobs through each replica's API at once: both replicas record events (created where the job was asked
        // for, sent and succeeded on B, which holds the stream) into the one log at the same time.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).Api.CreateJobAsync(peerId))));
        const int Expected = 1 + (40 * 3);
        List<SseEvent> seenOnA = [connected, .. await ReadAsync(onA, Expected - 1)];
        var seenOnB = await ReadAsync(onB, Expected);

        // One order, no gaps, the same on both replicas.
        Assert.Equal(Enumerable.Range(1, Expected).Select(id => (long)id), seenOnA.Select(item => item.Id));
        Assert.Equal(seenOnA.Select(Describe), seenOnB.Select(Describe));
        foreach (var job in seenOnA.Skip(1).GroupBy(item => item.Data.GetProperty("job_id").GetString()))
        {
            // Created on either replica, sent and answered on B: in the order the changes committed, whoever recorded them
            // (each change's event is written in the change's own transaction).
            Assert.Equal(["job.created", "job.sent", "job.succeeded"], job.Select(item => item.Type));
        }

        // A client that read half on A resumes on B with Last-Event-ID and gets exactly the rest.
        await using var resumed = await SseClient.ConnectAsync(b.Api, "/api/events", lastEventId: 60);
        Assert.Equal(seenOnA.Skip(60).Select(Describe), (await ReadAsync(resumed, Expected - 60)).Select(Describe));
        output.WriteLine($"{Expected} events recorded by two replicas at once: the same {Expected} ids, in one order, on clients of each; resumed on B after id 60; each job's events in the order of its changes");

        static string Describe(SseEvent item) => $"{item.Id} {item.Type} {item.Data.GetRawText()}";
    }

    [PostgresFact]
    public async Task A_webhook_set_on_both_replicas_gets_each_event_from_one_and_the_other_takes_over_when_it_stops()
    {
        await using var receiver = await WebhookReceiver.StartAsync(LoopbackPorts.Free());
        var a = await StartReplicaAsync("replica-a", options => options.Webhooks.Add(new WebhookOptions { Url = receiver.Url.ToString(), Secret = "shared-secret-0123456789" }));
        var b = await StartReplicaAsync("replica-b", options => options.Webhooks.Add(new WebhookOptions { Url = receiver.Url.ToString(), Secret = "shared-secret-0123456789" }));
        try
        {
            using var keys = WireGuardKeyPair.Generate();
            var peerId = await a.RegisterAsync(keys);
            // The webhook is new: whichever replica takes its turn first starts it at the log's end; wait for that.
            await Eventually.TrueAsync(async () => await a.Service<IWebhookStore>().CursorAsync(receiver.Url.ToString()) is not null, "the webhook's first cursor");

            await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).Api.CreateJobAsync(peerId))));
            // The receiver has an event before its sender has the answer and counts it: wait for the counts too.
            await Eventually.TrueAsync(
                () => receiver.Accepted.Count >= 20 && a.Service<WebhookDispatcher>().Delivered + b.Service<WebhookDispatcher>().Delivered >= 20,
                "20 events at the receiver, counted by their sender",
                TimeSpan.FromSeconds(20));
            var (holder, other) = a.Service<WebhookDispatcher>().Delivered > 0 ? (a, b) : (b, a);
            Assert.Equal(20, holder.Service<WebhookDispatcher>().Delivered);
            Assert.Equal(0, other.Service<WebhookDispatcher>().Delivered);
            Assert.Equal(Enumerable.Range(1, 20).Select(id => (long)id), receiver.Requests.Order());

            // The sender stops once its cursor is stored past the 20 (it is stored once a page: a sender stopped before
            // that leaves the page to be sent again by the next, which receivers de-duplicate, and this test would count
            // it); events recorded afterwards on the other replica still reach the receiver, from it, each once.
            await Eventually.TrueAsync(async () => await holder.Service<IWebhookStore>().CursorAsync(receiver.Url.ToString()) == 20, "the sender's cursor stored at 20");
            await holder.DisposeAsync();
            await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => other.Api.CreateJobAsync(peerId)));
            await Eventually.TrueAsync(
                () => receiver.Accepted.Select(delivery => delivery.EventId).Distinct().Count() >= 30 && other.Service<WebhookDispatcher>().Delivered >= 10,
                "30 events at the receiver, the last 10 counted by the other replica",
                TimeSpan.FromSeconds(20));
            Assert.Equal(Enumerable.Range(1, 30).Select(id => (long)id), receiver.Accepted.Select(delivery => delivery.EventId).Distinct().Order());
            Assert.Equal(10, other.Service<WebhookDispatcher>().Delivered);
            Assert.Equal(30, receiver.Requests.Count);
            output.WriteLine($"webhook on both replicas: 20 events sent by {(holder == a ? "A" : "B")} alone, then 10 by the other once it stopped ({receiver.Requests.Count} requests in all)");
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    private static async Task<List<SseEvent>> ReadAsync(SseClient client, int count)
    {
        var seen = new List<SseEvent>();
        while (seen.Count < count)
        {
            seen.Add(await client.NextAsync(Patience));
        }

        return seen;
    }

    /// <summary>
    /// Records, at every send of a batch's job and inside the send's transaction, how many of the batch's jobs are sent.
    /// The trigger takes the batch's row lock first, so two sends that raced past a missing lock are counted one after
    /// the other (the second sees the first) instead of each seeing only itself.
    /// </summary>
    private async Task InstallSentCounterAsync()
    {
        // The first replica has made the schema.
        await using var connection = new Npgsql.NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            """
            CREATE TABLE sent_counts (sent bigint NOT NULL);
            CREATE FUNCTION count_sent() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1 FROM batches WHERE id = NEW.batch_id FOR UPDATE;
                INSERT INTO sent_counts SELECT count(*) FROM jobs WHERE batch_id = NEW.batch_id AND status = 'sent';
                RETURN NULL;
            END $$;
            CREATE TRIGGER count_sent AFTER UPDATE OF status ON jobs FOR EACH ROW
                WHEN (NEW.status = 'sent' AND NEW.batch_id IS NOT NULL) EXECUTE FUNCTION count_sent();
            """,
            connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<List<long>> SentCountsAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT sent FROM sent_counts", connection);
        var counts = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            counts.Add(reader.GetInt64(0));
        }

        return counts;
    }

    private static async Task WaitForStateAsync(ManagementServer replica, Guid jobId, JobState state)
    {
        var store = replica.Service<IJobStore>();
        await Eventually.TrueAsync(async () => (await store.FindAsync(jobId))?.State == state, $"job {jobId} to be {state}", Patience);
    }

    private static async Task<string?> StatusOnAsync(ManagementServer replica, string peerId, Guid jobId)
    {
        using var job = JsonDocument.Parse(await replica.Api.GetStringAsync($"/api/peers/{peerId}/jobs/{jobId}"));
        return job.RootElement.GetProperty("status").GetString();
    }

    private static long Polls(ManagementServer replica) => ((PostgresJobSignals)replica.Service<IJobSignals>()).PollsDone;

    private Task<ManagementServer> StartReplicaAsync(string name, Action<ManagementOptions>? configure = null) => ManagementServer.StartAsync(options =>
    {
        options.Store = ManagementOptions.StoreKinds.Postgres;
        options.PostgresConnectionString = _database;
        options.PostgresPollInterval = TimeSpan.FromSeconds(2);
        options.ReplicaName = name;
        // One server key for every replica: a peer's sealed hello must open on whichever replica it reaches.
        options.ServerKeyPath = Path.Combine(_keyFolder, "management.key");
        options.HeartbeatInterval = TimeSpan.FromSeconds(1);
        configure?.Invoke(options);
    });
}
