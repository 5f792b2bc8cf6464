using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Reactive.Management.Crypto;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>Per-peer opt-in to remote jobs (NetBird #7153): <c>PATCH /api/peers/{id}</c> and <c>Management:RemoteJobsAllowedByDefault</c>.</summary>
public sealed class RemoteJobsOptInTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-opt-in-").FullName;
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();

    [Fact]
    public async Task With_opt_in_by_default_a_job_is_refused_until_the_peer_allows_it_and_the_choice_survives_a_restart()
    {
        string peerId;
        await using (var server = await ManagementServer.StartAsync(options => options.RemoteJobsAllowedByDefault = false, folder: _folder))
        {
            peerId = await server.RegisterAsync(_peer);
            Assert.False((await PeerAsync(server, peerId)).GetProperty("remote_jobs_allowed").GetBoolean());

            using var refused = await CreateJobAsync(server, peerId);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("remote jobs are not enabled on this peer", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            using var allowed = await server.Api.PatchAsJsonAsync($"/api/peers/{peerId}", new { remote_jobs_allowed = true });
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            Assert.True(JsonDocument.Parse(await allowed.Content.ReadAsStringAsync()).RootElement.GetProperty("remote_jobs_allowed").GetBoolean());
            using var created = await CreateJobAsync(server, peerId);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        // The choice is the peer's, in the file: still allowed after a restart with the same default.
        await using (var again = await ManagementServer.StartAsync(options => options.RemoteJobsAllowedByDefault = false, folder: _folder))
        {
            using var created = await CreateJobAsync(again, peerId);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);

            // null: back to the host's default.
            using var reset = await again.Api.PatchAsJsonAsync($"/api/peers/{peerId}", new { remote_jobs_allowed = (bool?)null });
            Assert.False(JsonDocument.Parse(await reset.Content.ReadAsStringAsync()).RootElement.GetProperty("remote_jobs_allowed").GetBoolean());
            using var refusedAgain = await CreateJobAsync(again, peerId);
            Assert.Equal(HttpStatusCode.Forbidden, refusedAgain.StatusCode);
            using var unknown = await again.Api.PatchAsJsonAsync("/api/peers/nobody", new { remote_jobs_allowed = true });
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            using var bad = await again.Api.PatchAsJsonAsync($"/api/peers/{peerId}", new { remote_jobs_allowed = "yes" });
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
    }

    [Fact]
    public async Task A_batch_naming_a_peer_that_opted_out_is_refused_naming_it_and_all_peers_means_those_that_allow()
    {
        await using var server = await ManagementServer.StartAsync(folder: _folder);
        var allowingId = await server.RegisterAsync(_peer, "allowing");
        using var otherKeys = WireGuardKeyPair.Generate();
        var optedOutId = await server.RegisterAsync(otherKeys, "opted-out");
        using (await server.Api.PatchAsJsonAsync($"/api/peers/{optedOutId}", new { remote_jobs_allowed = false }))
        {
        }

        using var named = await server.Api.PostAsJsonAsync("/api/jobs", new { peer_ids = new[] { allowingId, optedOutId }, workload = new { type = "bundle" } });
        using var all = await server.Api.PostAsJsonAsync("/api/jobs", new { all_peers = true, workload = new { type = "bundle" } });

        Assert.Equal(HttpStatusCode.Forbidden, named.StatusCode);
        Assert.Equal([optedOutId], JsonDocument.Parse(await named.Content.ReadAsStringAsync()).RootElement.GetProperty("not_allowed_peer_ids").EnumerateArray().Select(id => id.GetString()));
        Assert.Equal(HttpStatusCode.Created, all.StatusCode);
        Assert.Equal(1, JsonDocument.Parse(await all.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs").GetInt32());
    }

    public void Dispose()
    {
        _peer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private static Task<HttpResponseMessage> CreateJobAsync(ManagementServer server, string peerId) =>
        server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });

    private static async Task<JsonElement> PeerAsync(ManagementServer server, string peerId)
    {
        using var peer = JsonDocument.Parse(await server.Api.GetStringAsync($"/api/peers/{peerId}"));
        return peer.RootElement.Clone();
    }
}
