using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Reactive.Linq;
using System.Text.Json;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>The sample host as a child process: started wrong, and killed with SIGKILL mid-work.</summary>
[Collection(nameof(RunsAlone))]
public sealed class HostProcessTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-process-").FullName;

    public static TheoryData<string> StartupFailures() => ["bad key file", "bad database file", "port in use", "bad setting"];

    [Theory]
    [MemberData(nameof(StartupFailures))]
    public async Task A_host_that_cannot_start_says_why_in_one_line_naming_the_culprit_and_exits_with_1(string failure)
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        string[] settings = [];
        string culprit;
        switch (failure)
        {
            case "bad key file":
                culprit = Path.Combine(_folder, "management.key");
                await File.WriteAllTextAsync(culprit, "not a key\n");
                break;
            case "bad database file":
                culprit = Path.Combine(_folder, "management.db");
                await File.WriteAllTextAsync(culprit, new string('x', 4096));
                break;
            case "port in use":
                busy.Start();
                culprit = $"http://127.0.0.1:{((IPEndPoint)busy.LocalEndpoint).Port}";
                settings = [$"Kestrel:Endpoints:Grpc:Url={culprit}"];
                break;
            default:
                culprit = "Management:HeartbeatInterval";
                settings = ["Management:HeartbeatInterval=00:00:00"];
                break;
        }

        await using var host = HostProcess.Start(_folder, settings);

        Assert.Equal(1, await host.Exited.WaitAsync(Patience));
        var errors = host.Output.Where(line => line.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.Contains(culprit, Assert.Single(errors), StringComparison.Ordinal);
        Assert.DoesNotContain(host.Output, line => line.TrimStart().StartsWith("at ", StringComparison.Ordinal) || line.Contains("Unhandled exception", StringComparison.Ordinal));
    }

    /// <summary>
    /// The outside run's worst finding (issue 12), replayed from outside: a peer answers part of a burst of jobs, the
    /// host is killed with SIGKILL, restarted on the same files; the peer's first stream after the restart must carry
    /// every job not answered before the kill, so all of them end succeeded and none waits for its time-out.
    /// </summary>
    [Fact]
    public async Task After_a_SIGKILL_and_a_restart_every_unanswered_job_reaches_the_peer_on_its_next_stream()
    {
        const int Jobs = 300;
        string[] settings = ["Management:HeartbeatInterval=00:00:01", "Management:MaxJobsPerSecond=100000", "Management:JobCreationBurst=100000"];
        using var peer = WireGuardKeyPair.Generate();
        var created = new List<Guid>();
        var answeredBeforeKill = new ConcurrentDictionary<Guid, bool>();
        string peerId;
        await using (var first = HostProcess.Start(_folder, settings))
        {
            await first.WaitUntilListeningAsync();
            peerId = await first.Api.RegisterPeerAsync(peer, "killed-host-peer");
            await using var stream = await JobStreamConnection.OpenAsync(first.NewClient(), peer);
            // The peer answers every other job it gets; the rest stay sent.
            var received = 0;
            using var answering = stream.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
            {
                if (Interlocked.Increment(ref received) % 2 == 0 && JobIds.TryFromWire(request.ID, out var id))
                {
                    answeredBeforeKill[id] = true;
                    stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "before" } });
                }
            });
            for (var i = 0; i < Jobs; i++)
            {
                created.Add(await CreateJobAsync(first, peerId));
            }

            await first.KillAsync();
        }

        await using var second = HostProcess.Start(_folder, settings);
        await second.WaitUntilListeningAsync();
        await using var again = await JobStreamConnection.OpenAsync(second.NewClient(), peer);
        var onNewStream = new ConcurrentDictionary<Guid, bool>();
        using var answeringAgain = again.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
        {
            Assert.True(JobIds.TryFromWire(request.ID, out var id));
            onNewStream[id] = true;
            again.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "after" } });
        });

        await Eventually.TrueAsync(
            async () => (await StatusesAsync(second, peerId)).All(status => status == "succeeded"),
            "every job to end succeeded on the stream after the restart",
            Patience);
        var notAnswered = created.Where(id => !answeredBeforeKill.ContainsKey(id)).ToList();
        Assert.NotEmpty(notAnswered);
        Assert.All(notAnswered, id => Assert.True(onNewStream.ContainsKey(id), $"job {id} was not answered before the kill and never came again"));
        Assert.Equal(Jobs, (await StatusesAsync(second, peerId)).Count);
    }

    /// <summary>
    /// Group commit must not weaken 201: sixteen clients create jobs as fast as they can, the host is killed with SIGKILL
    /// mid-stream (after a seeded-random number of 201s, while requests are in flight), and every job that was answered
    /// 201 is in the file when a new host opens it.
    /// </summary>
    [Fact]
    public async Task Every_job_answered_201_is_in_the_database_after_a_SIGKILL()
    {
        string[] settings = ["Management:MaxJobsPerSecond=100000", "Management:JobCreationBurst=100000"];
        using var peer = WireGuardKeyPair.Generate();
        var acknowledged = new ConcurrentBag<Guid>();
        var killAfter = new Random(20261127).Next(200, 400);
        string peerId;
        await using (var first = HostProcess.Start(_folder, settings))
        {
            await first.WaitUntilListeningAsync();
            peerId = await first.Api.RegisterPeerAsync(peer, "durable-jobs-peer");
            var creators = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    try
                    {
                        using var response = await first.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
                        if (response.StatusCode != HttpStatusCode.Created)
                        {
                            return;
                        }

                        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                        acknowledged.Add(Guid.Parse(body.RootElement.GetProperty("id").GetString()!));
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        return; // the host is gone
                    }
                }
            })).ToList();

            await Eventually.TrueAsync(() => acknowledged.Count >= killAfter, "enough jobs acknowledged", Patience);
            await first.KillAsync();
            await Task.WhenAll(creators);
        }

        await using var second = HostProcess.Start(_folder, settings);
        await second.WaitUntilListeningAsync();
        var missing = new List<Guid>();
        foreach (var id in acknowledged)
        {
            using var response = await second.Api.GetAsync($"/api/peers/{peerId}/jobs/{id}");
            if (response.StatusCode != HttpStatusCode.OK)
            {
                missing.Add(id);
            }
        }

        Assert.True(acknowledged.Count >= killAfter, $"{acknowledged.Count} jobs acknowledged");
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} jobs answered 201 are not in the file after the kill: {string.Join(", ", missing.Take(5))}");
    }

    [Fact]
    public async Task Every_batch_answered_201_is_in_the_database_whole_after_a_SIGKILL_and_none_is_there_in_part()
    {
        string[] settings = ["Management:MaxJobsPerSecond=100000", "Management:JobCreationBurst=100000"];
        const int Peers = 30;
        var keys = Enumerable.Range(0, Peers).Select(_ => WireGuardKeyPair.Generate()).ToList();
        var acknowledged = new ConcurrentBag<string>();
        var killAfter = new Random(20261128).Next(20, 50);
        await using (var first = HostProcess.Start(_folder, settings))
        {
            await first.WaitUntilListeningAsync();
            var peerIds = new List<string>();
            foreach (var key in keys)
            {
                peerIds.Add(await first.Api.RegisterPeerAsync(key, "fan-out-peer"));
            }

            var creators = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    try
                    {
                        using var response = await first.Api.PostAsJsonAsync("/api/jobs", new { peer_ids = peerIds, workload = new { type = "bundle" }, max_in_flight = 3 });
                        if (response.StatusCode != HttpStatusCode.Created)
                        {
                            return;
                        }

                        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                        acknowledged.Add(body.RootElement.GetProperty("id").GetString()!);
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        return; // the host is gone
                    }
                }
            })).ToList();

            await Eventually.TrueAsync(() => acknowledged.Count >= killAfter, "enough batches acknowledged", Patience);
            await first.KillAsync();
            await Task.WhenAll(creators);
        }

        await using var second = HostProcess.Start(_folder, settings);
        await second.WaitUntilListeningAsync();
        // Every job in the file, grouped by batch: each batch is there with all its jobs or not at all.
        var jobsPerBatch = new Dictionary<string, int>();
        string? cursor = null;
        do
        {
            using var page = JsonDocument.Parse(await second.Api.GetStringAsync($"/api/jobs?limit=500{(cursor is null ? "" : "&cursor=" + cursor)}"));
            foreach (var job in page.RootElement.GetProperty("items").EnumerateArray())
            {
                var batchId = job.GetProperty("batch_id").GetString()!;
                jobsPerBatch[batchId] = jobsPerBatch.GetValueOrDefault(batchId) + 1;
            }

            cursor = page.RootElement.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
        }
        while (cursor is not null);

        Assert.True(acknowledged.Count >= killAfter, $"{acknowledged.Count} batches acknowledged");
        var missing = acknowledged.Where(id => !jobsPerBatch.ContainsKey(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} batches answered 201 are not in the file after the kill");
        Assert.All(jobsPerBatch, batch => Assert.True(batch.Value == Peers, $"batch {batch.Key} has {batch.Value} of its {Peers} jobs"));
        foreach (var id in acknowledged.Take(3))
        {
            using var batch = JsonDocument.Parse(await second.Api.GetStringAsync($"/api/batches/{id}?limit=1"));
            Assert.Equal(Peers, batch.RootElement.GetProperty("jobs").GetInt32());
            Assert.Equal(3, batch.RootElement.GetProperty("max_in_flight").GetInt32());
        }

        foreach (var key in keys)
        {
            key.Dispose();
        }
    }

    /// <summary>
    /// The event log is the webhooks' outbox and the resume point of event clients: no job change may be in the file
    /// without its event. Jobs are created flat out and answered at once (each goes created, sent, succeeded within
    /// milliseconds), the host is killed with SIGKILL mid-stream, and a new host on the same file must show, through
    /// <c>GET /api/events</c> from the start, exactly the events the jobs in the file stand for.
    /// </summary>
    [Fact]
    public async Task After_a_SIGKILL_every_job_change_in_the_file_has_its_event_and_no_event_is_without_its_change()
    {
        string[] settings = ["Management:HeartbeatInterval=00:00:01", "Management:MaxJobsPerSecond=100000", "Management:JobCreationBurst=100000"];
        using var peer = WireGuardKeyPair.Generate();
        var acknowledged = 0;
        var killAfter = new Random(20261129).Next(150, 300);
        string peerId;
        await using (var first = HostProcess.Start(_folder, settings))
        {
            await first.WaitUntilListeningAsync();
            peerId = await first.Api.RegisterPeerAsync(peer, "events-peer");
            await using var stream = await JobStreamConnection.OpenAsync(first.NewClient(), peer);
            using var answering = stream.Requests.Where(request => !request.IsHeartbeat())
                .Subscribe(request => stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded }));
            var creators = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    try
                    {
                        using var response = await first.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
                        if (response.StatusCode != HttpStatusCode.Created)
                        {
                            return;
                        }

                        Interlocked.Increment(ref acknowledged);
                    }
                    catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                    {
                        return; // the host is gone
                    }
                }
            })).ToList();

            // Killed mid-work with jobs in every state: enough acknowledged, and (asked of the host, since the stream
            // opens on its own time) some already sent and answered; the creators go on until the kill.
            await Eventually.TrueAsync(
                async () =>
                {
                    if (Volatile.Read(ref acknowledged) < killAfter)
                    {
                        return false;
                    }

                    using var succeeded = JsonDocument.Parse(await first.Api.GetStringAsync($"/api/jobs?peer_id={peerId}&status=succeeded&limit=1"));
                    return succeeded.RootElement.GetProperty("items").GetArrayLength() > 0;
                },
                "enough jobs acknowledged, and one answered",
                Patience);
            await first.KillAsync();
            await Task.WhenAll(creators);
        }

        await using var second = HostProcess.Start(_folder, settings);
        await second.WaitUntilListeningAsync();
        // What the jobs in the file stand for: created, sent if it was, and its end if it has one.
        var expected = new List<string>();
        using (var jobs = JsonDocument.Parse(await second.Api.GetStringAsync($"/api/peers/{peerId}/jobs?limit=500")))
        {
            foreach (var job in jobs.RootElement.EnumerateArray())
            {
                var id = job.GetProperty("id").GetString();
                expected.Add($"{id} job.created");
                if (job.TryGetProperty("sent_at", out var sentAt) && sentAt.ValueKind != JsonValueKind.Null)
                {
                    expected.Add($"{id} job.sent");
                }

                if (job.GetProperty("status").GetString() is "succeeded" or "failed" or "timed_out" or "cancelled")
                {
                    expected.Add($"{id} job.{job.GetProperty("status").GetString()}");
                }
            }
        }

        await using var events = await SseClient.ConnectAsync(second.Api, "/api/events", lastEventId: 0);
        var seen = new List<string>();
        while (seen.Count < expected.Count)
        {
            SseEvent item;
            try
            {
                item = await events.NextAsync(TimeSpan.FromSeconds(10));
            }
            catch (OperationCanceledException)
            {
                break; // the log has no more: the comparison below says what is missing
            }

            if (item.Type.StartsWith("job.", StringComparison.Ordinal))
            {
                seen.Add($"{item.Data.GetProperty("job_id").GetString()} {item.Type}");
            }
        }

        // The kill came mid-stream: jobs in every state were being changed (waited for above; how many got sent or
        // answered depends on the machine, so only that some did is asked).
        Assert.True(Volatile.Read(ref acknowledged) >= killAfter, $"{acknowledged} jobs acknowledged");
        Assert.Contains(expected, change => change.EndsWith(" job.sent", StringComparison.Ordinal));
        Assert.Contains(expected, change => change.EndsWith(" job.succeeded", StringComparison.Ordinal));
        var missing = expected.Except(seen).ToList();
        var extra = seen.Except(expected).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0, $"{missing.Count} job changes without their event ({string.Join("; ", missing.Take(3))}), {extra.Count} events without their change ({string.Join("; ", extra.Take(3))})");
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private static async Task<Guid> CreateJobAsync(HostProcess host, string peerId)
    {
        using var response = await host.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return Guid.Parse(body.RootElement.GetProperty("id").GetString()!);
    }

    private static async Task<List<string>> StatusesAsync(HostProcess host, string peerId)
    {
        using var page = JsonDocument.Parse(await host.Api.GetStringAsync($"/api/peers/{peerId}/jobs?limit=500"));
        return [.. page.RootElement.EnumerateArray().Select(job => job.GetProperty("status").GetString()!)];
    }
}
