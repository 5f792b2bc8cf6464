using System.Net.Http.Json;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Text.Json;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Storage;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>Stream health per peer in <c>GET /api/peers/{id}</c>, over real Kestrel and real Job streams.</summary>
public sealed class StreamHealthTests : ManagementServerTest
{
    [Fact]
    public async Task A_peers_streams_heartbeats_answers_and_how_its_last_stream_ended_show_in_the_API()
    {
        var peerId = await Server.RegisterAsync(Peer);
        using (var before = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/peers/{peerId}")))
        {
            Assert.False(before.RootElement.TryGetProperty("streams_opened", out _));
        }

        var (first, firstJob) = await Server.ConnectAndAwaitJobAsync(Peer);
        await Eventually.TrueAsync(async () => (await PeerAsync(peerId)).TryGetProperty("last_heartbeat_at", out _), "a heartbeat recorded");
        var job = await Server.Service<JobBoard>().CreateAsync(await Server.FindPeerAsync(peerId), new BundleParameters());
        first.Answer(new JobResponse { ID = (await firstJob).ID, Status = JobStatus.Succeeded });
        await Server.Service<JobBoard>().WhenFinishedAsync(job.Id).WaitAsync(TimeSpan.FromSeconds(20));

        var open = await PeerAsync(peerId);
        Assert.True(open.GetProperty("connected").GetBoolean());
        Assert.Equal(1, open.GetProperty("streams_opened").GetInt32());
        Assert.True(open.TryGetProperty("stream_opened_at", out _));
        Assert.True(open.TryGetProperty("last_answer_at", out _));
        Assert.False(open.TryGetProperty("last_stream_end", out _));

        // A second stream of the same peer replaces the first; then the peer goes away.
        await using (var second = await Server.ConnectAsync(Peer))
        {
            await Eventually.TrueAsync(async () => (await PeerAsync(peerId)).TryGetProperty("last_stream_end", out var end) && end.GetProperty("reason").GetString() == "replaced", "the first stream to end as replaced");
            Assert.Equal(2, (await PeerAsync(peerId)).GetProperty("streams_opened").GetInt32());
            await first.DisposeAsync();
        }

        await Eventually.TrueAsync(async () => !(await PeerAsync(peerId)).GetProperty("connected").GetBoolean(), "the peer to show as disconnected");
        var gone = await PeerAsync(peerId);
        Assert.Equal("cancelled", gone.GetProperty("last_stream_end").GetProperty("reason").GetString());
        Assert.False(gone.TryGetProperty("stream_opened_at", out _));
    }

    [Fact]
    public async Task Heartbeats_are_recorded_without_a_database_write()
    {
        await Server.RegisterAsync(Peer);
        var database = Server.Service<SqliteDatabase>();
        await using var stream = await Server.ConnectAsync(Peer);
        var heartbeats = 0;
        using var counting = stream.Requests.Where(request => request.IsHeartbeat()).Subscribe(_ => Interlocked.Increment(ref heartbeats));
        await Eventually.TrueAsync(() => Volatile.Read(ref heartbeats) >= 1, "a first heartbeat");
        // The stream's opening is written once (its peer.connected event); after that, nothing.
        await Eventually.TrueAsync(async () => (await Server.Service<Reactive.Management.Events.IEventLog>().RangeAsync()).Newest >= 1, "the peer.connected event recorded");
        var commits = database.Commits;

        // The test host beats every 200 ms.
        await Eventually.TrueAsync(() => Volatile.Read(ref heartbeats) >= 6, "five more heartbeats");

        Assert.Equal(commits, database.Commits);
    }

    private async Task<JsonElement> PeerAsync(string peerId)
    {
        using var peer = JsonDocument.Parse(await Server.Api.GetStringAsync($"/api/peers/{peerId}"));
        return peer.RootElement.Clone();
    }
}
