using System.Net;
using System.Net.Http.Json;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>Jobs that outlive streams and the host itself: real Kestrel, real SQLite file.</summary>
public sealed class JobLifecycleEndToEndTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-restart-").FullName;

    [Fact]
    public async Task A_job_for_an_offline_peer_survives_a_host_restart_and_is_delivered_once_and_answered()
    {
        string peerId;
        string jobId;
        await using (var before = await ManagementServer.StartAsync(folder: _folder))
        {
            peerId = await before.RegisterAsync(_peer);
            using var created = await before.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle", parameters = new { log_file_count = 4 } } });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
            jobId = body.RootElement.GetProperty("id").GetString()!;
            Assert.Equal("pending", body.RootElement.GetProperty("status").GetString());
            await before.App.StopAsync();
        }

        await using var after = await ManagementServer.StartAsync(folder: _folder);
        await using var connection = await after.ConnectAsync(_peer);
        var jobs = new List<JobRequest>();
        using var subscription = connection.Requests.Where(request => !request.IsHeartbeat()).Subscribe(jobs.Add);
        await Eventually.TrueAsync(() => jobs.Count == 1, "the stored job to arrive after the restart");
        connection.Answer(new JobResponse { ID = jobs[0].ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "after-restart" } });
        await after.Service<JobBoard>().WhenFinishedAsync(Guid.Parse(jobId)).WaitAsync(Patience);

        // A few heartbeats later: still exactly one delivery, and exactly one job in the store.
        await connection.Requests.Where(request => request.IsHeartbeat()).Take(3).ToTask().WaitAsync(Patience);
        Assert.Single(jobs);
        Assert.Equal(jobId, new Guid(jobs[0].ID.Span, bigEndian: true).ToString());
        using var list = await after.Api.GetAsync($"/api/peers/{peerId}/jobs");
        Assert.Equal("1", list.Headers.GetValues("X-Total-Count").Single());
        using var report = JsonDocument.Parse(await after.Api.GetStringAsync($"/api/peers/{peerId}/jobs/{jobId}"));
        Assert.Equal("succeeded", report.RootElement.GetProperty("status").GetString());
        Assert.Equal("after-restart", report.RootElement.GetProperty("workload").GetProperty("result").GetProperty("upload_key").GetString());
    }

    [Fact]
    public async Task A_job_sent_on_a_stream_that_died_unanswered_is_sent_again_on_the_next_stream()
    {
        await using var server = await ManagementServer.StartAsync(folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        var (first, firstJob) = await server.ConnectAndAwaitJobAsync(_peer);
        using var created = await server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        var sent = await firstJob.WaitAsync(Patience);
        await first.DisposeAsync();
        await Eventually.TrueAsync(() => !server.Service<JobHub>().IsConnected(_peer.PublicKey), "the first stream to end");

        await using var second = await server.ConnectAsync(_peer);
        var again = await second.Requests.FirstAsync(request => !request.IsHeartbeat()).ToTask().WaitAsync(Patience);

        Assert.Equal(sent.ID, again.ID);
        second.Answer(new JobResponse { ID = again.ID, Status = JobStatus.Succeeded });
        var done = await server.Service<JobBoard>().WhenFinishedAsync(new Guid(again.ID.Span, bigEndian: true)).WaitAsync(Patience);
        Assert.Equal(JobState.Succeeded, done.State);
    }

    [Fact]
    public async Task An_unanswered_job_times_out_and_the_API_says_so()
    {
        await using var server = await ManagementServer.StartAsync(options => options.AnswerTimeout = TimeSpan.FromMilliseconds(300), folder: _folder);
        var peerId = await server.RegisterAsync(_peer);
        var (connection, delivered) = await server.ConnectAndAwaitJobAsync(_peer);
        await using var _ = connection;
        var peer = await server.FindPeerAsync(peerId);
        var job = await server.Service<JobBoard>().CreateAsync(peer, new BundleParameters());
        await delivered.WaitAsync(Patience);

        var finished = await server.Service<JobBoard>().WhenFinishedAsync(job.Id).WaitAsync(Patience);

        Assert.Equal(JobState.TimedOut, finished.State);
        using var report = JsonDocument.Parse(await server.Api.GetStringAsync($"/api/peers/{peerId}/jobs/{job.Id}"));
        Assert.Equal("timed_out", report.RootElement.GetProperty("status").GetString());
        Assert.Contains("not answered", report.RootElement.GetProperty("failed_reason").GetString(), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _peer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }
}
