using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Grpc.Net.Client;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Proxies;

/// <summary>
/// The three scenarios every proxy must pass: heartbeats keep one stream open for six proxy timeouts; without them
/// the proxy cuts it (so the proxy really enforces its timeout); a proxy restart is survived by the client.
/// </summary>
public abstract class ReverseProxyScenarios(ProxyKind kind, ITestOutputHelper output) : IDisposable
{
    /// <summary>The proxy's idle timeout in these tests.</summary>
    protected static readonly TimeSpan ProxyTimeout = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan Heartbeat = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();

    protected async Task HeartbeatsKeepOneStreamOpenAsync()
    {
        await using var server = await ManagementServer.StartAsync(options => options.HeartbeatInterval = Heartbeat);
        await using var proxy = await ReverseProxy.StartAsync(kind, server.Address.Port, ProxyTimeout);
        var peerId = await server.RegisterAsync(_peer);
        using var channel = GrpcChannel.ForAddress(proxy.Address);
        await using var connection = await JobStreamConnection.OpenAsync(new ManagementService.ManagementServiceClient(channel), _peer);
        var open = Stopwatch.StartNew();
        var heartbeatTimes = new List<TimeSpan>();
        var ended = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var job = new TaskCompletionSource<JobRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscription = connection.Requests.Subscribe(
            request =>
            {
                if (request.IsHeartbeat())
                {
                    lock (heartbeatTimes)
                    {
                        heartbeatTimes.Add(open.Elapsed);
                    }
                }
                else
                {
                    job.TrySetResult(request);
                }
            },
            error => ended.TrySetResult(error),
            () => ended.TrySetResult(null));

        // Six proxy timeouts' worth of heartbeats on the one stream.
        var expected = (int)(6 * ProxyTimeout / Heartbeat);
        await Task.WhenAny(ended.Task, Eventually.TrueAsync(() => Count(heartbeatTimes) >= expected, $"{expected} heartbeats", Patience));
        if (ended.Task.IsCompleted)
        {
            Assert.Fail($"the stream ended through {kind} after {open.Elapsed}: {await ended.Task}\n{proxy.Output}");
        }

        var gaps = Gaps(heartbeatTimes);

        var created = await server.Service<JobBoard>().CreateAsync(await server.FindPeerAsync(peerId), new BundleParameters { LogFileCount = 1 });
        var delivered = await job.Task.WaitAsync(Patience);
        connection.Answer(new JobResponse { ID = delivered.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = $"through-{kind}" } });
        var finished = await server.Service<JobBoard>().WhenFinishedAsync(created.Id).WaitAsync(Patience);

        Assert.Equal(JobState.Succeeded, finished.State);
        Assert.True(gaps.Max() < ProxyTimeout, $"a heartbeat gap of {gaps.Max()} reached the proxy timeout");
        output.WriteLine($"{kind}: timeout {ProxyTimeout.TotalSeconds} s, heartbeat {Heartbeat.TotalMilliseconds} ms; stream open {open.Elapsed.TotalSeconds:0.0} s; {Count(heartbeatTimes)} heartbeats, largest gap {gaps.Max().TotalMilliseconds:0} ms; job answered through the proxy");
    }

    protected async Task WithoutHeartbeatsTheProxyCutsTheStreamAsync()
    {
        await using var server = await ManagementServer.StartAsync(options => options.HeartbeatInterval = TimeSpan.FromHours(1));
        await using var proxy = await ReverseProxy.StartAsync(kind, server.Address.Port, ProxyTimeout);
        await server.RegisterAsync(_peer);
        using var channel = GrpcChannel.ForAddress(proxy.Address);
        await using var connection = await JobStreamConnection.OpenAsync(new ManagementService.ManagementServiceClient(channel), _peer);
        var open = Stopwatch.StartNew();

        var outcome = await Record.ExceptionAsync(() => connection.Requests.LastOrDefaultAsync().ToTask().WaitAsync(Patience));

        var cutAfter = open.Elapsed;
        Assert.False(outcome is TimeoutException, $"{kind} did not cut a silent stream within {Patience}");
        Assert.True(cutAfter >= ProxyTimeout * 0.75, $"{kind} ended the stream after {cutAfter}, before its {ProxyTimeout} timeout: {outcome}");
        output.WriteLine($"{kind}: timeout {ProxyTimeout.TotalSeconds} s, no heartbeat; stream cut after {cutAfter.TotalSeconds:0.00} s: {Describe(outcome)}");
    }

    protected async Task TheClientRedialsThroughARestartedProxyAndNothingIsLostAsync()
    {
        await using var server = await ManagementServer.StartAsync(options => options.HeartbeatInterval = Heartbeat);
        await using var proxy = await ReverseProxy.StartAsync(kind, server.Address.Port, ProxyTimeout);
        var peer = await server.FindPeerAsync(await server.RegisterAsync(_peer));
        using var client = JobStreamClient.Create(proxy.Address, _peer, new JobStreamClientOptions
        {
            LivenessTimeout = Heartbeat * 3,
            InitialBackoff = TimeSpan.FromMilliseconds(50),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        });
        var outageClock = Stopwatch.StartNew();
        var jobs = new List<JobRequest>();
        using var jobLog = client.Jobs.Subscribe(request =>
        {
            lock (jobs)
            {
                jobs.Add(request);
            }

            client.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "after-outage" } });
        });
        var states = new List<string>();
        using var stateLog = client.States.Subscribe(state =>
        {
            lock (states)
            {
                states.Add($"{outageClock.Elapsed.TotalMilliseconds:0} ms {state}");
            }
        });
        client.Start();
        await client.States.FirstAsync(s => s.Status == JobStreamStatus.Connected).ToTask().WaitAsync(Patience);

        await proxy.StopAsync();
        await client.States.FirstAsync(s => s.Status is JobStreamStatus.Reconnecting).ToTask().WaitAsync(Patience);
        var queued = await server.Service<JobBoard>().CreateAsync(peer, new BundleParameters());
        var outage = Stopwatch.StartNew();
        await proxy.RestartAsync();
        var back = outage.Elapsed;
        var finished = await server.Service<JobBoard>().WhenFinishedAsync(queued.Id).WaitAsync(Patience).ContinueWith(
            task => task.IsCompletedSuccessfully
                ? task.Result
                : throw new TimeoutException($"the job queued during the outage was not answered; proxy back at {back.TotalMilliseconds:0} ms; client states:\n{string.Join("\n", Snapshot(states))}\n{proxy.Output}"),
            TaskScheduler.Default);
        var answeredAfter = outage.Elapsed - back;

        Assert.Equal(JobState.Succeeded, finished.State);
        Assert.Equal("after-outage", finished.UploadKey);
        lock (jobs)
        {
            Assert.Contains(jobs, request => request.ID == JobIds.ToWire(queued.Id));
        }

        output.WriteLine($"{kind}: proxy killed and restarted; job queued during the outage answered {answeredAfter.TotalMilliseconds:0} ms after the proxy listened again; {client.Dials} dials");
    }

    public void Dispose()
    {
        _peer.Dispose();
        GC.SuppressFinalize(this);
    }

    private static List<string> Snapshot(List<string> lines)
    {
        lock (lines)
        {
            return [.. lines];
        }
    }

    private static int Count(List<TimeSpan> times)
    {
        lock (times)
        {
            return times.Count;
        }
    }

    private static List<TimeSpan> Gaps(List<TimeSpan> times)
    {
        lock (times)
        {
            return [.. times.Prepend(TimeSpan.Zero).Zip(times, (a, b) => b - a)];
        }
    }

    private static string Describe(Exception? outcome) => outcome switch
    {
        null => "completed by the proxy",
        Grpc.Core.RpcException rpc => $"{rpc.StatusCode} {rpc.Status.Detail}",
        _ => $"{outcome.GetType().Name} {outcome.Message}",
    };
}

public sealed class NginxTests(ITestOutputHelper output) : ReverseProxyScenarios(ProxyKind.Nginx, output)
{
    [ProxyFact(ProxyKind.Nginx)]
    public Task Heartbeats_keep_one_stream_open_for_six_timeouts() => HeartbeatsKeepOneStreamOpenAsync();

    [ProxyFact(ProxyKind.Nginx)]
    public Task Without_heartbeats_the_proxy_cuts_the_stream() => WithoutHeartbeatsTheProxyCutsTheStreamAsync();

    [ProxyFact(ProxyKind.Nginx)]
    public Task The_client_redials_through_a_restarted_proxy_and_nothing_is_lost() => TheClientRedialsThroughARestartedProxyAndNothingIsLostAsync();
}

public sealed class HaproxyTests(ITestOutputHelper output) : ReverseProxyScenarios(ProxyKind.Haproxy, output)
{
    [ProxyFact(ProxyKind.Haproxy)]
    public Task Heartbeats_keep_one_stream_open_for_six_timeouts() => HeartbeatsKeepOneStreamOpenAsync();

    [ProxyFact(ProxyKind.Haproxy)]
    public Task Without_heartbeats_the_proxy_cuts_the_stream() => WithoutHeartbeatsTheProxyCutsTheStreamAsync();

    [ProxyFact(ProxyKind.Haproxy)]
    public Task The_client_redials_through_a_restarted_proxy_and_nothing_is_lost() => TheClientRedialsThroughARestartedProxyAndNothingIsLostAsync();
}

public sealed class CaddyTests(ITestOutputHelper output) : ReverseProxyScenarios(ProxyKind.Caddy, output)
{
    [ProxyFact(ProxyKind.Caddy)]
    public Task Heartbeats_keep_one_stream_open_for_six_timeouts() => HeartbeatsKeepOneStreamOpenAsync();

    [ProxyFact(ProxyKind.Caddy)]
    public Task Without_heartbeats_the_proxy_cuts_the_stream() => WithoutHeartbeatsTheProxyCutsTheStreamAsync();

    [ProxyFact(ProxyKind.Caddy)]
    public Task The_client_redials_through_a_restarted_proxy_and_nothing_is_lost() => TheClientRedialsThroughARestartedProxyAndNothingIsLostAsync();
}
