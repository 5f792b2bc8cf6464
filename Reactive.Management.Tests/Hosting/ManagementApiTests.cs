using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Reactive.Management.Crypto;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

public sealed class ManagementApiTests : ManagementServerTest
{
    [Fact]
    public async Task Registering_a_peer_answers_201_with_the_peer_and_200_when_it_exists()
    {
        using var first = await Server.Api.PostAsJsonAsync("/api/peers", new { wg_pub_key = Peer.PublicKey.ToString(), name = "laptop" });
        using var again = await Server.Api.PostAsJsonAsync("/api/peers", new { wg_pub_key = Peer.PublicKey.ToString(), name = "laptop" });

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        using var body = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        Assert.Equal(Peer.PublicKey.ToString(), body.RootElement.GetProperty("wg_pub_key").GetString());
        Assert.Equal("laptop", body.RootElement.GetProperty("name").GetString());
        Assert.False(body.RootElement.GetProperty("connected").GetBoolean());
        using var list = JsonDocument.Parse(await Server.Api.GetStringAsync("/api/peers"));
        Assert.Equal(1, list.RootElement.GetArrayLength());
    }

    [Fact]
    public async Task The_low_order_key_the_Job_stream_refuses_is_refused_by_the_API_too()
    {
        using var response = await Server.Api.PostAsJsonAsync("/api/peers", new { wg_pub_key = Convert.ToBase64String(new byte[32]), name = "zero" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("low-order", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(50_000_000, true)]
    [InlineData(25_000_000, false)]
    public async Task An_oversized_body_gets_413_problem_details_without_an_error_log(int bytes, bool declaresLength)
    {
        // A 50 MB body with its length declared, or a 25 MB name streamed without one: refused before it is parsed whole.
        var json = Encoding.UTF8.GetBytes($$"""{"wg_pub_key":"{{Peer.PublicKey}}","name":"{{new string('n', bytes)}}"}""");
        using var content = declaresLength ? (HttpContent)new ByteArrayContent(json) : new StreamContent(new UnknownLengthStream(json));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await Server.Api.PostAsync("/api/peers", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("at most 65536 bytes", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(Server.Logs.Entries, entry => entry.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
        Assert.Empty(await Server.Service<Reactive.Management.Peers.IPeerRegistry>().ListAsync());
    }

    [Fact]
    public async Task A_job_created_again_with_the_same_Idempotency_Key_is_the_same_job_and_a_different_body_gets_422()
    {
        var peerId = await Server.RegisterAsync(Peer);
        var key = Guid.NewGuid().ToString();

        // A client whose answer was lost retries, several times and at once.
        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => PostJobAsync(peerId, key, logFileCount: 3)));
        using var different = await PostJobAsync(peerId, key, logFileCount: 4);
        using var tooLong = await PostJobAsync(peerId, new string('k', 256), logFileCount: 3);

        var ids = new HashSet<string>();
        foreach (var answer in answers)
        {
            Assert.True(answer.StatusCode == HttpStatusCode.Created, await answer.Content.ReadAsStringAsync());
            using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
            ids.Add(body.RootElement.GetProperty("id").GetString()!);
            Assert.Equal(key, body.RootElement.GetProperty("idempotency_key").GetString());
            answer.Dispose();
        }

        Assert.Single(ids);
        Assert.Equal(9, answers.Count(answer => answer.Headers.TryGetValues("Idempotent-Replayed", out var replayed) && replayed.Single() == "true"));
        Assert.Equal((HttpStatusCode)422, different.StatusCode);
        Assert.Contains(ids.Single(), await different.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        using var list = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs");
        Assert.Equal("1", list.Headers.GetValues("X-Total-Count").Single());
    }

    private async Task<HttpResponseMessage> PostJobAsync(string peerId, string idempotencyKey, int logFileCount)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/peers/{peerId}/jobs")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = JsonContent.Create(new { workload = new { type = "bundle", parameters = new { log_file_count = logFileCount } } }),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await Server.Api.SendAsync(request);
    }

    [Fact]
    public async Task A_job_for_an_offline_peer_is_created_pending()
    {
        var peerId = await Server.RegisterAsync(Peer);

        using var response = await Server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle", parameters = new { log_file_count = 3 } } });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("pending", body.RootElement.GetProperty("status").GetString());
        Assert.Equal("bundle", body.RootElement.GetProperty("workload").GetProperty("type").GetString());
        Assert.Equal(3, body.RootElement.GetProperty("workload").GetProperty("parameters").GetProperty("log_file_count").GetInt32());
        using var list = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/peers/{peerId}/jobs"));
        Assert.Equal(1, list.RootElement.GetArrayLength());
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("{\"workload\": {\"type\": \"reboot\"}}", "'reboot' is not supported")]
    [InlineData("{}", "workload is required")]
    [InlineData("{\"workload\": {\"type\": \"bundle\", \"parameters\": {\"log_file_count\": -1}}}", "must not be negative")]
    [InlineData("{\"workload\": {\"type\": \"bundle\", \"unknown_field\": 1}}", "not valid JSON")]
    public async Task Bad_job_requests_answer_400_with_problem_details(string json, string expected)
    {
        var peerId = await Server.RegisterAsync(Peer);

        using var response = await Server.Api.PostAsync($"/api/peers/{peerId}/jobs", new StringContent(json, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, expected);
    }

    [Theory]
    [InlineData("{\"wg_pub_key\": \"nope\"}", "wg_pub_key")]
    [InlineData("[1, 2]", "not valid JSON")]
    public async Task Bad_peer_requests_answer_400_with_problem_details(string json, string expected)
    {
        using var response = await Server.Api.PostAsync("/api/peers", new StringContent(json, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, expected);
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_answers_415()
    {
        using var response = await Server.Api.PostAsync("/api/peers", new StringContent("wg_pub_key=x", Encoding.UTF8, "text/plain"));

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "application/json");
    }

    [Fact]
    public async Task Unknown_peers_and_jobs_answer_404_with_problem_details()
    {
        var peerId = await Server.RegisterAsync(Peer);

        using var unknownPeer = await Server.Api.PostAsJsonAsync("/api/peers/nobody/jobs", new { workload = new { type = "bundle" } });
        using var unknownJob = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs/{Guid.NewGuid()}");
        using var malformedJob = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs/not-a-guid");

        await AssertProblemAsync(unknownPeer, HttpStatusCode.NotFound, "nobody");
        await AssertProblemAsync(unknownJob, HttpStatusCode.NotFound, "has no job");
        await AssertProblemAsync(malformedJob, HttpStatusCode.NotFound, "not-a-guid");
    }

    [Fact]
    public async Task A_job_of_another_peer_is_not_found_under_this_peer()
    {
        using var other = WireGuardKeyPair.Generate();
        var peerId = await Server.RegisterAsync(Peer);
        var otherId = await Server.RegisterAsync(other, "other");
        using var created = await Server.Api.PostAsJsonAsync($"/api/peers/{otherId}/jobs", new { workload = new { type = "bundle" } });
        using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());

        using var response = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs/{body.RootElement.GetProperty("id").GetString()}");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Deleting_an_unfinished_job_cancels_it_and_a_second_delete_conflicts()
    {
        var peerId = await Server.RegisterAsync(Peer);
        var jobId = await CreateJobAsync(peerId);

        using var cancelled = await Server.Api.DeleteAsync($"/api/peers/{peerId}/jobs/{jobId}");
        using var again = await Server.Api.DeleteAsync($"/api/peers/{peerId}/jobs/{jobId}");

        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        using var body = JsonDocument.Parse(await cancelled.Content.ReadAsStringAsync());
        Assert.Equal("cancelled", body.RootElement.GetProperty("status").GetString());
        await AssertProblemAsync(again, HttpStatusCode.Conflict, "is cancelled");
        using var unknown = await Server.Api.DeleteAsync($"/api/peers/{peerId}/jobs/{Guid.NewGuid()}");
        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "has no job");
    }

    [Fact]
    public async Task The_job_list_pages_newest_first_and_tells_the_total()
    {
        var peerId = await Server.RegisterAsync(Peer);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await CreateJobAsync(peerId));
        }

        using var page = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs?limit=2&offset=1");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("5", page.Headers.GetValues("X-Total-Count").Single());
        using var body = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
        Assert.Equal([ids[3], ids[2]], body.RootElement.EnumerateArray().Select(job => job.GetProperty("id").GetString()));
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=501")]
    [InlineData("offset=-1")]
    [InlineData("limit=ten")]
    public async Task A_bad_page_answers_400(string query)
    {
        var peerId = await Server.RegisterAsync(Peer);

        using var response = await Server.Api.GetAsync($"/api/peers/{peerId}/jobs?{query}");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "limit must be");
    }

    private async Task<string> CreateJobAsync(string peerId)
    {
        using var created = await Server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        created.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetString()!;
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains(detailContains, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A body whose length the client does not declare (chunked on HTTP/1.1, plain DATA frames on HTTP/2).</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

/// <summary>NetBird's newest bundle fields: <c>anonymize_level</c> (field 5) and <c>upload_url</c> (field 6) reach the peer.</summary>
public sealed class BundleFieldsTests : ManagementServerTest
{
    [Fact]
    public async Task Anonymize_level_and_upload_url_go_through_the_API_to_the_peer_and_back_in_the_job()
    {
        var peerId = await Server.RegisterAsync(Peer);
        var (stream, firstJob) = await Server.ConnectAndAwaitJobAsync(Peer);
        await using (stream)
        {
            using var response = await Server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new
            {
                workload = new { type = "bundle", parameters = new { anonymize = true, anonymize_level = "strict", upload_url = "https://uploads.example.com/bundles" } },
            });

            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var parameters = body.RootElement.GetProperty("workload").GetProperty("parameters");
            Assert.Equal("strict", parameters.GetProperty("anonymize_level").GetString());
            Assert.Equal("https://uploads.example.com/bundles", parameters.GetProperty("upload_url").GetString());
            var received = await firstJob.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal("strict", received.Bundle.AnonymizeLevel);
            Assert.Equal("https://uploads.example.com/bundles", received.Bundle.UploadUrl);
            Assert.True(received.Bundle.Anonymize);
        }
    }

    [Theory]
    [InlineData("""{"workload": {"type": "bundle", "parameters": {"anonymize_level": "paranoid"}}}""", "anonymize_level must be 'default' or 'strict'")]
    [InlineData("""{"workload": {"type": "bundle", "parameters": {"upload_url": "ftp://example.com/x"}}}""", "upload_url must be an absolute http(s) URL")]
    [InlineData("""{"workload": {"type": "bundle", "parameters": {"upload_url": "/relative"}}}""", "upload_url must be an absolute http(s) URL")]
    public async Task A_bad_anonymize_level_or_upload_url_gets_400_and_no_job(string body, string detail)
    {
        var peerId = await Server.RegisterAsync(Peer);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");

        using var response = await Server.Api.PostAsync($"/api/peers/{peerId}/jobs", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var jobs = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/peers/{peerId}/jobs"));
        Assert.Equal(0, jobs.RootElement.GetArrayLength());
    }
}
