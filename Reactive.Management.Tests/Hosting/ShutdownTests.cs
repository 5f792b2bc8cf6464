using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Grpc.Core;
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
/// Host stop with many open Job streams, one of them stuck behind HTTP/2 flow control: the server ends every stream
/// promptly with Unavailable, every client sees its stream end (Unavailable, or the connection closed just after),
/// nothing is lost, no task exception goes unobserved.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class ShutdownTests(ITestOutputHelper output)
{
    private const int Peers = 50;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Stopping_writes_Unavailable_to_every_stream_promptly_and_every_unanswered_job_is_sent_again_after_restart()
    {
        var unobserved = new List<Exception>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs args)
        {
            lock (unobserved)
            {
                unobserved.Add(args.Exception);
            }
        }

        // Earlier tests' garbage is finalized first: what the hook sees then comes from this test.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        TaskScheduler.UnobservedTaskException += Record;
        var folder = Directory.CreateTempSubdirectory("reactive-management-shutdown-").FullName;
        var peers = Enumerable.Range(0, Peers).Select(_ => WireGuardKeyPair.Generate()).ToList();
        try
        {
            var sentJobs = new List<Guid>();
            var stuckJobs = new List<Guid>();
            using var stuckKeys = WireGuardKeyPair.Generate();
            TimeSpan stopTook;
            var endings = new List<Task<Exception?>>();
            await using (var server = await ManagementServer.StartAsync(options => options.HeartbeatInterval = TimeSpan.FromMilliseconds(100), folder: folder))
            {
                var board = server.Service<JobBoard>();
                var registry = server.Service<IPeerRegistry>();
                var connections = new List<JobStreamConnection>();
                foreach (var keys in peers)
                {
                    var (peer, _) = await registry.RegisterAsync(keys.PublicKey, "peer");
                    var (connection, firstJob) = await server.ConnectAndAwaitJobAsync(keys);
                    endings.Add(connection.Requests.LastOrDefaultAsync().Select(_ => (Exception?)null).Catch<Exception?, Exception>(error => Observable.Return<Exception?>(error)).ToTask());
                    // Sent and never answered: the restarted host must send it again.
                    var job = await board.CreateAsync(peer, new BundleParameters { LogFileCount = 3 });
                    Assert.Equal(JobIds.ToWire(job.Id), (await firstJob.WaitAsync(Patience)).ID);
                    sentJobs.Add(job.Id);
                    connections.Add(connection);
                }

                // One more peer that never reads: its write is stuck behind flow control when the host stops.
                var (stuckPeer, stuckCall) = await server.OpenNeverReadingStreamAsync(stuckKeys);
                using var _ = stuckCall;
                for (var i = 0; i < 100; i++)
                {
                    stuckJobs.Add((await board.CreateAsync(stuckPeer, new BundleParameters { AnonymizeLevel = new string('x', 4096) })).Id);
                }

                await server.WhenWritesHeldAsync(stuckKeys);

                var clock = Stopwatch.StartNew();
                await server.App.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
                stopTook = clock.Elapsed;

                var ended = await Task.WhenAll(endings).WaitAsync(Patience);
                var unavailable = ended.Count(error => error is RpcException { StatusCode: StatusCode.Unavailable });
                output.WriteLine($"host stop with {Peers} streams and one stuck write took {stopTook.TotalMilliseconds:F0} ms; {unavailable} of {Peers} clients saw Unavailable, the others: {string.Join("; ", ended.Where(error => error is not RpcException { StatusCode: StatusCode.Unavailable }).Select(error => error?.Message ?? "completed").Distinct())}");
                Assert.True(stopTook < TimeSpan.FromSeconds(5), $"stopping took {stopTook}");
                // The server ends every stream with Unavailable (event 104 below), and the host stops only once every Job
                // response is complete (its trailers written). Some clients still see the connection close instead (in
                // 1 run of 4 here, down from most runs): see docs/known-limits.md. Both make a peer reconnect;
                // neither is a silent end.
                Assert.All(ended, error => Assert.True(
                    error is RpcException { StatusCode: StatusCode.Unavailable } || (error is RpcException rpc && rpc.Status.Detail.Contains("closed the connection", StringComparison.Ordinal)),
                    $"a stream ended with {error?.ToString() ?? "no error"}"));
                Assert.Equal(Peers + 1, server.Logs.Entries.Count(entry => entry.EventId.Id == 104));
                Assert.DoesNotContain(server.Logs.Entries, entry => entry.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
                foreach (var connection in connections)
                {
                    connection.Dispose();
                }
            }

            // A new host over the same store: every sent, unanswered job goes out again and can be answered.
            await using (var restarted = await ManagementServer.StartAsync(folder: folder))
            {
                var board = restarted.Service<JobBoard>();
                await Task.WhenAll(peers.Select(async (keys, i) =>
                {
                    await using var connection = await restarted.ConnectAsync(keys);
                    var job = await connection.Requests.FirstAsync(request => !request.IsHeartbeat()).ToTask().WaitAsync(Patience);
                    Assert.Equal(JobIds.ToWire(sentJobs[i]), job.ID);
                    connection.Answer(new JobResponse { ID = job.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = $"after-restart-{i}" } });
                    Assert.Equal(JobState.Succeeded, (await board.WhenFinishedAsync(sentJobs[i]).WaitAsync(Patience)).State);
                }));

                // The stuck peer's 100 jobs too (16 of them were sent into its stuck stream): all come on its next stream.
                await using var unstuck = await restarted.ConnectAsync(stuckKeys);
                using var answering = unstuck.Requests.Where(request => !request.IsHeartbeat()).Subscribe(request =>
                    unstuck.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "unstuck" } }));
                var finished = await Task.WhenAll(stuckJobs.Select(id => board.WhenFinishedAsync(id).WaitAsync(Patience)));
                Assert.All(finished, job => Assert.Equal("unstuck", job.UploadKey));
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            lock (unobserved)
            {
                Assert.True(unobserved.Count == 0, string.Join(Environment.NewLine, unobserved));
            }
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
            foreach (var keys in peers)
            {
                keys.Dispose();
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }
}
