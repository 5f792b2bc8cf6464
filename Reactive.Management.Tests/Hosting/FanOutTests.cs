using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Hosting;

/// <summary>
/// <c>POST /api/jobs</c> (one job per peer in one durable batch, at most <c>max_in_flight</c> sent at once),
/// <c>GET</c>/<c>DELETE /api/batches/{id}</c> and <c>GET /api/jobs</c>, over real Kestrel and real Job streams.
/// </summary>
public sealed class FanOutTests(ITestOutputHelper output) : ManagementServerTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_capped_batch_reaches_every_connected_peer_once_never_more_than_the_cap_sent_and_waits_for_the_rest()
    {
        // The database itself records the number of sent jobs of the batch at every send, in the send's own transaction.
        await InstallSentCounterAsync();
        await using var fleet = await AnsweringPeers.RegisterAsync(Server.Service<IPeerRegistry>(), 210, seed: 20261127);
        await fleet.ConnectAsync(Server, 0, 200, maxAnswerDelay: TimeSpan.FromMilliseconds(40));
        await Eventually.TrueAsync(() => Server.Service<JobHub>().ConnectedCount == 200, "200 peers connected");

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var response = await Server.Api.PostAsJsonAsync("/api/jobs", new
        {
            peer_ids = fleet.Peers.Select(peer => peer.Peer.Id),
            workload = new { type = "bundle", parameters = new { log_file_count = 3 } },
            max_in_flight = 20,
        });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var batchId = created.RootElement.GetProperty("id").GetString()!;
        Assert.Equal(210, created.RootElement.GetProperty("jobs").GetInt32());
        Assert.Equal(20, created.RootElement.GetProperty("max_in_flight").GetInt32());

        // The 200 connected peers finish; the 10 that never connected wait pending, holding no place under the cap.
        await Eventually.TrueAsync(async () => (await CountsAsync(batchId))["succeeded"] == 200, "200 jobs answered", Patience);
        output.WriteLine($"200 peers, max_in_flight 20, answers after 0–40 ms: all answered in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms");
        var counts = await CountsAsync(batchId);
        Assert.Equal(10, counts["pending"]);
        Assert.Equal(0, counts["sent"]);
        Assert.Equal(200, fleet.Deliveries.Count);
        Assert.All(fleet.Deliveries.Values, times => Assert.Equal(1, times));

        var sentCounts = await SentCountsAsync();
        Assert.Equal(200, sentCounts.Count);
        Assert.True(sentCounts.Max() == 20, $"the most jobs sent at once was {sentCounts.Max()}; the cap is 20 and 200 peers were waiting");
        Assert.InRange(fleet.MostHeld, 1, 20);

        // The late peers connect: their jobs go out as the others' did.
        await fleet.ConnectAsync(Server, 200, 210, maxAnswerDelay: TimeSpan.FromMilliseconds(5));
        await Eventually.TrueAsync(async () => (await CountsAsync(batchId))["succeeded"] == 210, "all 210 answered", Patience);
        Assert.True((await SentCountsAsync()).Max() <= 20);
    }

    [Fact]
    public async Task A_batch_without_a_cap_sends_to_all_connected_peers_at_once_and_all_peers_names_every_peer()
    {
        await using var fleet = await AnsweringPeers.RegisterAsync(Server.Service<IPeerRegistry>(), 30, seed: 7);
        await fleet.ConnectAsync(Server, 0, 30, maxAnswerDelay: TimeSpan.FromMilliseconds(200));
        await Eventually.TrueAsync(() => Server.Service<JobHub>().ConnectedCount == 30, "30 peers connected");

        using var response = await Server.Api.PostAsJsonAsync("/api/jobs", new { all_peers = true, workload = new { type = "bundle" } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var created = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(30, created.RootElement.GetProperty("jobs").GetInt32());
        Assert.False(created.RootElement.TryGetProperty("max_in_flight", out _));
        var batchId = created.RootElement.GetProperty("id").GetString()!;
        await Eventually.TrueAsync(async () => (await CountsAsync(batchId))["succeeded"] == 30, "30 answered", Patience);
        // With no cap every peer held its job at some moment together with others (answers take up to 200 ms).
        Assert.True(fleet.MostHeld > 1);
    }

    [Theory]
    [InlineData("""{"peer_ids": [], "workload": {"type": "bundle"}}""", 400, "peer_ids is empty")]
    [InlineData("""{"workload": {"type": "bundle"}}""", 400, "either peer_ids")]
    [InlineData("""{"peer_ids": ["PEER"], "all_peers": true, "workload": {"type": "bundle"}}""", 400, "either peer_ids")]
    [InlineData("""{"peer_ids": ["PEER"], "workload": {"type": "bundle"}, "max_in_flight": 0}""", 400, "max_in_flight must be 1 to 10000")]
    [InlineData("""{"peer_ids": ["PEER"], "workload": {"type": "bundle"}, "max_in_flight": 10001}""", 400, "max_in_flight must be 1 to 10000")]
    [InlineData("""{"peer_ids": ["PEER"], "workload": {"type": "script"}}""", 400, "workload.type 'script'")]
    [InlineData("""{"peer_ids": ["PEER"]}""", 400, "workload is required")]
    [InlineData("""{"peer_ids": ["PEER", "PEER"], "workload": {"type": "bundle"}}""", 400, "more than once")]
    [InlineData("""{"peer_ids": ["PEER", "nobody-1", "nobody-2"], "workload": {"type": "bundle"}}""", 404, "'nobody-1', 'nobody-2'")]
    [InlineData("""{"peer_ids": ["PEER"], "workload": {"type": "bundle"}, "priority": 1}""", 400, "priority")]
    public async Task A_bad_batch_is_refused_with_problem_details_naming_what_is_wrong_and_creates_nothing(string body, int status, string detail)
    {
        var peerId = await Server.RegisterAsync(Peer);
        using var content = new StringContent(body.Replace("PEER", peerId, StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json");

        using var response = await Server.Api.PostAsync("/api/jobs", content);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty((await Server.Service<JobBoard>().QueryAsync(new JobQuery())).Jobs);
    }

    [Fact]
    public async Task Unknown_and_duplicate_peer_ids_are_listed_in_full_and_more_than_10000_peers_are_refused()
    {
        var peerId = await Server.RegisterAsync(Peer);
        var unknown = Enumerable.Range(0, 25).Select(i => $"ghost-{i}").ToList();

        using var notFound = await Server.Api.PostAsJsonAsync("/api/jobs", new { peer_ids = unknown.Prepend(peerId), workload = new { type = "bundle" } });
        using var tooMany = await Server.Api.PostAsJsonAsync("/api/jobs", new { peer_ids = Enumerable.Range(0, 10_001).Select(i => $"peer-{i:D5}-{new string('x', 20)}"), workload = new { type = "bundle" } });

        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        using var problem = JsonDocument.Parse(await notFound.Content.ReadAsStringAsync());
        Assert.Equal(unknown, problem.RootElement.GetProperty("unknown_peer_ids").EnumerateArray().Select(id => id.GetString()));
        Assert.Contains("and 5 more", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("at most 10000 peers; peer_ids has 10001", await tooMany.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_batch_cancels_its_sent_and_pending_jobs_and_nothing_more_goes_out()
    {
        await using var fleet = await AnsweringPeers.RegisterAsync(Server.Service<IPeerRegistry>(), 6, seed: 1);
        // Three peers that take their jobs and never answer: the cap of 2 stays full.
        var holders = new List<(Reactive.Management.Client.JobStreamConnection Stream, Task<Reactive.Management.Protocol.JobRequest> FirstJob)>();
        for (var i = 0; i < 3; i++)
        {
            holders.Add(await Server.ConnectAndAwaitJobAsync(fleet.Peers[i].Keys));
        }

        using var response = await Server.Api.PostAsJsonAsync("/api/jobs", new { peer_ids = fleet.Peers.Select(peer => peer.Peer.Id), workload = new { type = "bundle" }, max_in_flight = 2 });
        var batchId = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        await Eventually.TrueAsync(async () => (await CountsAsync(batchId))["sent"] == 2, "two jobs sent");

        using var deleted = await Server.Api.DeleteAsync($"/api/batches/{batchId}");
        using var again = await Server.Api.DeleteAsync($"/api/batches/{batchId}");

        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        using var body = JsonDocument.Parse(await deleted.Content.ReadAsStringAsync());
        Assert.Equal(6, body.RootElement.GetProperty("cancelled").GetInt32());
        Assert.Equal(6, body.RootElement.GetProperty("counts").GetProperty("cancelled").GetInt32());
        Assert.True(body.RootElement.TryGetProperty("cancelled_at", out _));
        Assert.Equal(0, JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("cancelled").GetInt32());

        // A peer that connects now gets nothing of the batch; the holders' third job never went out.
        await fleet.ConnectAsync(Server, 3, 6, TimeSpan.Zero);
        await Eventually.TrueAsync(() => Server.Service<JobHub>().ConnectedCount == 6, "six peers connected");
        Assert.Equal(2, holders.Count(holder => holder.FirstJob.IsCompleted));
        Assert.Empty(fleet.Deliveries);
        Assert.Equal(6, (await CountsAsync(batchId))["cancelled"]);
        foreach (var (stream, _) in holders)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unknown_or_malformed_batch_ids_get_404()
    {
        using var unknown = await Server.Api.GetAsync($"/api/batches/{Guid.NewGuid()}");
        using var malformed = await Server.Api.DeleteAsync("/api/batches/not-a-batch");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, malformed.StatusCode);
        Assert.Contains("No batch has the id", await malformed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task All_jobs_page_by_cursor_through_the_API_while_jobs_are_created_and_filters_apply()
    {
        var peerA = await Server.RegisterAsync(Peer, "a");
        using var otherKeys = WireGuardKeyPair.Generate();
        var peerB = await Server.RegisterAsync(otherKeys, "b");
        var created = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            created.Add(await Server.Api.CreateJobAsync(i % 3 == 0 ? peerB : peerA));
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            using var page = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/jobs?limit=5{(cursor is null ? "" : "&cursor=" + cursor)}"));
            seen.AddRange(page.RootElement.GetProperty("items").EnumerateArray().Select(job => job.GetProperty("id").GetString()!));
            cursor = page.RootElement.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
            // Created while paging: newer than every page, so never in a later one.
            await Server.Api.CreateJobAsync(peerA);
        }
        while (cursor is not null);

        Assert.Equal(created.AsEnumerable().Reverse(), seen);
        using var ofB = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/jobs?peer_id={peerB}&status=pending"));
        Assert.Equal(4, ofB.RootElement.GetProperty("items").GetArrayLength());
        using var none = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/jobs?created_after={DateTimeOffset.UtcNow.AddMinutes(1):yyyy-MM-ddTHH:mm:ssZ}"));
        Assert.Equal(0, none.RootElement.GetProperty("items").GetArrayLength());
        foreach (var bad in new[] { "status=done", "limit=0", "limit=501", "cursor=abc", "batch_id=x", "created_after=2026-11-27T08:00:00", "created_after=yesterday" })
        {
            using var refused = await Server.Api.GetAsync($"/api/jobs?{bad}");
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{bad}: {refused.StatusCode}");
        }
    }

    private async Task<Dictionary<string, int>> CountsAsync(string batchId)
    {
        using var batch = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/batches/{batchId}?limit=1"));
        return batch.RootElement.GetProperty("counts").EnumerateObject().ToDictionary(count => count.Name, count => count.Value.GetInt32());
    }

    private string DatabasePath => Path.Combine(Server.Folder, "management.db");

    private async Task InstallSentCounterAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText =
            """
            CREATE TABLE sent_counts (sent INTEGER NOT NULL);
            CREATE TRIGGER count_sent AFTER UPDATE OF status ON jobs WHEN NEW.status = 'sent' AND NEW.batch_id IS NOT NULL
            BEGIN
                INSERT INTO sent_counts SELECT COUNT(*) FROM jobs WHERE batch_id = NEW.batch_id AND status = 'sent';
            END;
            """;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<List<long>> SentCountsAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT sent FROM sent_counts";
        var counts = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            counts.Add(reader.GetInt64(0));
        }

        return counts;
    }
}
