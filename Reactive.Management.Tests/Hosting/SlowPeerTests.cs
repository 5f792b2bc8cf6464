using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Hosting;

/// <summary>
/// A peer that never reads its Job stream, over real Kestrel and HTTP/2 flow control, while 100 other peers are
/// served: the server's memory stays bounded, the stuck stream is reset after StuckWriteTimeout, no job is lost.
/// Runs alone: it measures the process's managed heap.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class SlowPeerTests(ITestOutputHelper output)
{
    private const int OtherPeers = 100;
    private const int JobsForTheStuckPeer = 2_000;
    private const int MaxQueuedJobs = 16;
    // Large jobs, so that what an unbounded queue would hold (2,000 sealed 64 KiB bodies: 125 MiB) stands far above
    // what else a process running a test suite allocates meanwhile (pools filling, other hosts winding down: several
    // MiB seen in CI, which a 4 KiB job's 8 MiB could not be told apart from).
    private const int JobSize = 64 * 1024;
    // At most a quarter of one sealed body per job: room for the per-job bookkeeping (~1 KiB) and that noise.
    private const long MaxGrowthPerJob = JobSize / 4;
    private static readonly TimeSpan StuckWriteTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_peer_that_never_reads_costs_bounded_memory_while_100_others_are_served_is_reset_when_stuck_and_gets_every_job_on_its_next_stream()
    {
        await using var server = await ManagementServer.StartAsync(
            options =>
            {
                options.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
                options.StuckWriteTimeout = StuckWriteTimeout;
                options.MaxQueuedJobsPerStream = MaxQueuedJobs;
            },
            // Kestrel's own minimum data rate would also reset the stuck stream; off, so that ours is what is proven.
            kestrel: kestrel => kestrel.Limits.MinResponseDataRate = null);
        var board = server.Service<JobBoard>();
        var registry = server.Service<IPeerRegistry>();
        var hub = server.Service<JobHub>();

        // 100 peers that read and answer everything.
        var others = new List<(WireGuardKeyPair Keys, JobStreamConnection Stream)>();
        var heartbeats = new int[OtherPeers];
        var subscriptions = new List<IDisposable>();
        for (var i = 0; i < OtherPeers; i++)
        {
            var keys = WireGuardKeyPair.Generate();
            await registry.RegisterAsync(keys.PublicKey, $"peer-{i}");
            var stream = await server.ConnectAsync(keys);
            var index = i;
            subscriptions.Add(stream.Requests.Subscribe(request =>
            {
                if (request.IsHeartbeat())
                {
                    Interlocked.Increment(ref heartbeats[index]);
                }
                else
                {
                    stream.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = $"k{index}" } });
                }
            }));
            others.Add((keys, stream));
        }

        await Eventually.TrueAsync(() => hub.ConnectedCount == OtherPeers, "all 100 peers connected", Patience);
        var baseline = ManagedHeap();

        // The stuck peer: its hello goes out, its responses are never read, so HTTP/2 flow control soon holds the writes.
        using var stuckKeys = WireGuardKeyPair.Generate();
        var (stuckPeer, stuckCall) = await server.OpenNeverReadingStreamAsync(stuckKeys);
        using var _ = stuckCall;

        // 2,000 jobs of 64 KiB for it: all of them would sit in memory if the stream queued without bound.
        var clock = Stopwatch.StartNew();
        var bigParameters = new BundleParameters { AnonymizeLevel = new string('x', JobSize) };
        for (var i = 0; i < JobsForTheStuckPeer; i++)
        {
            await board.CreateAsync(stuckPeer, bigParameters);
        }

        var stuckChannel = await server.WhenWritesHeldAsync(stuckKeys);
        var whileStuck = ManagedHeap();
        long skippedHeartbeats = 0;
        using var skipped = new System.Diagnostics.Metrics.MeterListener();
        skipped.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "reactive_management.heartbeats.skipped" && instrument.Meter.Scope == server.Service<System.Diagnostics.Metrics.IMeterFactory>())
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        skipped.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref skippedHeartbeats, value));
        skipped.Start();
        var heartbeatsBefore = heartbeats.ToArray();

        // The 100 others meanwhile: each still gets heartbeats and has a job answered.
        var answered = await Task.WhenAll(others.Select(async other =>
        {
            var peer = (await registry.FindByKeyAsync(other.Keys.PublicKey))!;
            var job = await board.CreateAsync(peer, new BundleParameters { LogFileCount = 1 });
            return await board.WhenFinishedAsync(job.Id).WaitAsync(Patience);
        }));
        // Stuck for a while: until every other peer has had ten more heartbeats and the stuck one has had some skipped.
        await Eventually.TrueAsync(
            () => heartbeats.Zip(heartbeatsBefore, (after, before) => after - before).Min() >= 10 && Interlocked.Read(ref skippedHeartbeats) > 0,
            "ten heartbeats for every other peer, and skipped ones for the stuck peer",
            Patience);
        var stillStuck = ManagedHeap();
        var stuckFor = clock.Elapsed;
        Assert.False(server.Logs.Entries.Any(entry => entry.EventId.Id == 105), "the memory was measured while the peer was stuck");

        var growth = whileStuck - baseline;
        var growthWhileStuck = stillStuck - whileStuck;
        output.WriteLine($"managed heap: baseline {baseline / 1024} KiB, after 2,000 × {JobSize / 1024} KiB jobs for the stuck peer +{growth / 1024} KiB ({growth / JobsForTheStuckPeer} B a job), {stuckFor.TotalSeconds:F1} s into it {stillStuck / 1024} KiB ({growthWhileStuck / 1024:+#;-#;0} KiB)");
        output.WriteLine($"the stuck stream holds {stuckChannel.Unwritten} unwritten jobs; heartbeats per other peer during it: min {heartbeats.Zip(heartbeatsBefore, (a, b) => a - b).Min()}");

        // Queued without bound, the 2,000 sealed bodies alone would be 125 MiB, their requests as much again. What does
        // grow per job is bookkeeping (its deadline timer, its event, the captured log line), not the job.
        Assert.True(growth < JobsForTheStuckPeer * MaxGrowthPerJob, $"the managed heap grew by {growth / 1024} KiB ({growth / JobsForTheStuckPeer} B a job; at most {MaxGrowthPerJob} B a job)");
        // While stuck, the stream's heartbeats are skipped, not queued (the heap figure above is reported, not asserted:
        // a second or two of 100 ms heartbeats would be too little to tell apart from the other peers' traffic).
        Assert.True(Interlocked.Read(ref skippedHeartbeats) > 0, "no heartbeat of the stuck stream was skipped");
        Assert.Equal(MaxQueuedJobs, stuckChannel.Capacity);
        Assert.Equal(MaxQueuedJobs, stuckChannel.Unwritten);
        Assert.All(answered, job => Assert.Equal(JobState.Succeeded, job.State));

        // Reset once a write has been pending for StuckWriteTimeout; nothing is lost: every job waits for the next stream.
        await Eventually.TrueAsync(() => server.Logs.Entries.Any(entry => entry.EventId.Id == 105), "the stuck stream to be reset (event 105)", StuckWriteTimeout + Patience);
        await Eventually.TrueAsync(() => !hub.IsConnected(stuckKeys.PublicKey), "the stuck peer to be dropped");
        var unfinished = await server.Service<IJobStore>().ListUnfinishedAsync(stuckKeys.PublicKey);
        Assert.Equal(JobsForTheStuckPeer, unfinished.Count);
        Assert.Equal(OtherPeers, hub.ConnectedCount);

        // The peer comes back reading: all 2,000 jobs reach it on its next stream and are answered.
        await using (var again = await server.ConnectAsync(stuckKeys))
        {
            using var answering = again.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
                again.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "unstuck" } }));
            await Eventually.TrueAsync(
                async () => (await server.Service<IJobStore>().ListUnfinishedAsync(stuckKeys.PublicKey)).Count == 0,
                "all 2,000 jobs answered on the peer's next stream",
                TimeSpan.FromSeconds(60));
        }

        var (done, total) = await board.ListAsync(stuckPeer.Id, 0, 500);
        Assert.Equal(JobsForTheStuckPeer, total);
        Assert.All(done, job => Assert.Equal("unstuck", job.UploadKey));

        foreach (var subscription in subscriptions)
        {
            subscription.Dispose();
        }

        foreach (var (keys, stream) in others)
        {
            await stream.DisposeAsync();
            keys.Dispose();
        }
    }

    private static long ManagedHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
