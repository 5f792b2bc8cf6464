using System.Diagnostics;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Storage;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Client;

/// <summary>The client against real Kestrel hosts that go away, come back, or fall silent.</summary>
public sealed class JobStreamClientEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-client-").FullName;

    [Fact]
    public async Task The_client_comes_back_by_itself_after_the_host_restarts_and_gets_the_job_queued_meanwhile()
    {
        var before = await ManagementServer.StartAsync(folder: _folder);
        var port = before.Address.Port;
        var peerId = await before.RegisterAsync(_peer);
        using var client = JobStreamClient.Create(before.Address, _peer, FastReconnects());
        var states = new List<JobStreamState>();
        using var stateLog = client.States.Subscribe(state => { lock (states) { states.Add(state); } });
        var received = client.Jobs.FirstAsync().ToTask();
        client.Start();
        await WaitForStatusAsync(client, JobStreamStatus.Connected);

        await before.App.StopAsync();
        await before.DisposeAsync();
        await WaitForStatusAsync(client, JobStreamStatus.Reconnecting);

        // While the host is down (and the peer with it), a job is queued in its database, as an operator's tool would.
        var queued = await QueueWhileDownAsync(peerId);
        Assert.Equal(JobState.Pending, queued.State);
        Assert.NotEqual(JobStreamStatus.Connected, client.State.Status);

        await using var after = await ManagementServer.StartAsync(folder: _folder, port: port);
        var back = Stopwatch.StartNew();
        await WaitForStatusAsync(client, JobStreamStatus.Connected);
        var reopenedAfter = back.Elapsed;

        var job = await received.WaitAsync(Patience);
        Assert.Equal(JobIds.ToWire(queued.Id), job.ID);
        Assert.True(client.Answer(new JobResponse { ID = job.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "k" } }));
        var finished = await after.Service<JobBoard>().WhenFinishedAsync(queued.Id).WaitAsync(Patience);
        Assert.Equal(JobState.Succeeded, finished.State);
        lock (states)
        {
            // Unavailable when the host's answer arrives first, or the closed connection when it does not.
            Assert.Contains(states, s => s.Status == JobStreamStatus.Reconnecting);
        }

        output.WriteLine($"host back → Job stream re-opened: {reopenedAfter.TotalMilliseconds:0} ms (MaxBackoff {FastReconnects().MaxBackoff.TotalMilliseconds} ms); dials {client.Dials}");
    }

    [Fact]
    public async Task A_client_whose_server_falls_silent_redials_at_the_liveness_timeout()
    {
        // The server's own extension point drops every heartbeat: the stream stays open but silent.
        await using var server = await ManagementServer.StartAsync(extend: management => management.AddOutgoingOperator((requests, _) => requests.Where(r => !r.IsHeartbeat())));
        await server.RegisterAsync(_peer);
        using var client = JobStreamClient.Create(server.Address, _peer, FastReconnects());
        var reconnecting = client.States.FirstAsync(s => s.Status == JobStreamStatus.Reconnecting).ToTask();
        var connectedAt = client.States.FirstAsync(s => s.Status == JobStreamStatus.Connected).Select(_ => Stopwatch.GetTimestamp()).ToTask();
        client.Start();

        var state = await reconnecting.WaitAsync(Patience);
        var silentFor = Stopwatch.GetElapsedTime(await connectedAt.WaitAsync(Patience));

        Assert.Equal("nothing received for 1 s", state.Reason);
        await Eventually.TrueAsync(() => client.Dials >= 2, "a second dial", Patience);
        output.WriteLine($"connected → declared dead: {silentFor.TotalMilliseconds:0} ms (LivenessTimeout 1000 ms)");
    }

    [Fact]
    public async Task A_client_that_hears_heartbeats_keeps_its_one_stream()
    {
        await using var server = await ManagementServer.StartAsync();
        await server.RegisterAsync(_peer);
        var options = FastReconnects();
        options.LivenessTimeout = TimeSpan.FromSeconds(3);
        using var client = JobStreamClient.Create(server.Address, _peer, options);
        client.Start();

        // 200 ms heartbeats against a 3 s watchdog: ten heartbeats, one dial.
        await Eventually.TrueAsync(() => client.HeartbeatsReceived >= 10, "ten heartbeats", Patience);

        Assert.Equal(1, client.Dials);
        Assert.Equal(JobStreamStatus.Connected, client.State.Status);
    }

    [Fact]
    public async Task An_unregistered_peer_is_faulted_not_retried_in_a_tight_loop()
    {
        await using var server = await ManagementServer.StartAsync();
        using var client = JobStreamClient.Create(server.Address, _peer, FastReconnects());
        var faulted = client.States.FirstAsync(s => s.Status == JobStreamStatus.Faulted).ToTask();
        client.Start();

        var state = await faulted.WaitAsync(Patience);

        Assert.StartsWith("PermissionDenied", state.Reason, StringComparison.Ordinal);
        Assert.Equal(FastReconnects().MaxBackoff, state.RetryIn);
    }

    public void Dispose()
    {
        _peer.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<Job> QueueWhileDownAsync(string peerId)
    {
        using var database = new SqliteDatabase(Path.Combine(_folder, "management.db"));
        var peer = await new SqlitePeerRegistry(database, DefaultScheduler.Instance).FindByIdAsync(peerId);
        using var board = new JobBoard(new SqliteJobStore(database), new JobHub(), DefaultScheduler.Instance);
        var job = await board.CreateAsync(peer!, new BundleParameters { LogFileCount = 2 });
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        return job;
    }

    private static JobStreamClientOptions FastReconnects() => new()
    {
        LivenessTimeout = TimeSpan.FromSeconds(1),
        InitialBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(500),
    };

    private static Task<JobStreamState> WaitForStatusAsync(JobStreamClient client, JobStreamStatus status) =>
        client.States.FirstAsync(s => s.Status == status).ToTask().WaitAsync(Patience);
}
