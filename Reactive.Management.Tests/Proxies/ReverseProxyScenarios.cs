using System.Net.Http.Json;
using System.Collections.Concurrent;
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
        var enough = Eventually.TrueAsync(() => Count(heartbeatTimes) >= expected, $"{expected} heartbeats", Patience);
        if (await Task.WhenAny(ended.Task, enough) == ended.Task)
        {
            var serverSide = string.Join("\n", server.Logs.Entries.Where(entry => entry.EventId.Id is >= 100 and < 400).Select(entry => $"{entry.EventId.Id} {entry.Message}"));
            Assert.Fail($"the stream ended through {kind} after {open.Elapsed}: {await ended.Task}\nserver:\n{serverSide}\nproxy:\n{proxy.Output}");
        }

        // Fails here (TimeoutException) if the heartbeats did not come in time.
        await enough;

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
        // The peer answers nothing until the proxy is back: the first jobs are in flight (sent, unanswered) at the kill.
        var answering = false;
        var received = new ConcurrentDictionary<Google.Protobuf.ByteString, int>();
        using var jobLog = client.Jobs.Subscribe(request =>
        {
            received.AddOrUpdate(request.ID, 1, (_, seen) => seen + 1);
            if (Volatile.Read(ref answering))
            {
                client.Answer(new JobResponse { ID = request.ID, Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "after-outage" } });
            }
        });
        var states = new List<string>();
        using var stateLog = client.States.Subscribe(state =>
        {
            lock (states)
            {
                states.Add($"{outageClock.Elapsed.TotalMilliseconds:0} ms {state}");
            }
        });
        var board = server.Service<JobBoard>();
        var finishings = new ConcurrentDictionary<Guid, int>();
        using var finishLog = board.Changes.Where(job => job.IsFinished).Subscribe(job => finishings.AddOrUpdate(job.Id, 1, (_, seen) => seen + 1));
        client.Start();
        await client.States.FirstAsync(s => s.Status == JobStreamStatus.Connected).ToTask().WaitAsync(Patience);

        var inFlight = new List<Job>();
        for (var i = 0; i < 5; i++)
        {
            inFlight.Add(await board.CreateAsync(peer, new BundleParameters { LogFileCount = i }));
        }

        await Eventually.TrueAsync(() => inFlight.All(job => received.ContainsKey(JobIds.ToWire(job.Id))), "the first jobs to reach the peer", Patience);
        await proxy.StopAsync();
        await client.States.FirstAsync(s => s.Status is JobStreamStatus.Reconnecting).ToTask().WaitAsync(Patience);
        var duringOutage = new List<Job>();
        for (var i = 0; i < 5; i++)
        {
            duringOutage.Add(await board.CreateAsync(peer, new BundleParameters { LogFileCount = 10 + i }));
        }

        foreach (var job in inFlight)
        {
            Assert.Equal(JobState.Sent, (await board.FindAsync(job.Id))!.State);
        }

        // Pending, or "sent" to the server's half of the dead stream if the server has not yet seen it die: unfinished.
        Assert.All(duringOutage, job => Assert.False(job.IsFinished));
        Assert.All(duringOutage, job => Assert.False(received.ContainsKey(JobIds.ToWire(job.Id))));
        Volatile.Write(ref answering, true);
        var outage = Stopwatch.StartNew();
        await proxy.RestartAsync();
        var back = outage.Elapsed;
        var all = inFlight.Concat(duringOutage).ToList();
        try
        {
            await Eventually.TrueAsync(() => all.All(job => finishings.ContainsKey(job.Id)), "every job to be answered after the outage", Patience);
        }
        catch (TimeoutException timeout)
        {
            throw new TimeoutException($"{timeout.Message}; proxy back at {back.TotalMilliseconds:0} ms; client states:\n{string.Join("\n", Snapshot(states))}\n{proxy.Output}", timeout);
        }

        var answeredAfter = outage.Elapsed - back;
        foreach (var job in all)
        {
            var finished = (await board.FindAsync(job.Id))!;
            Assert.Equal(JobState.Succeeded, finished.State);
            Assert.Equal("after-outage", finished.UploadKey);
            Assert.Equal(1, finishings[job.Id]);
        }

        // Nothing doubled: a job created during the outage came once; one in flight at the kill at most once per stream.
        Assert.All(duringOutage, job => Assert.Equal(1, received[JobIds.ToWire(job.Id)]));
        Assert.All(inFlight, job => Assert.InRange(received[JobIds.ToWire(job.Id)], 1, 2));
        var (_, total) = await board.ListAsync(peer.Id, 0, 100);
        Assert.Equal(10, total);
        output.WriteLine($"{kind}: proxy killed with 5 jobs in flight, 5 created during the outage; all 10 answered once, {answeredAfter.TotalMilliseconds:0} ms after the proxy listened again; {client.Dials} dials");
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
    public async Task The_event_stream_stays_open_through_nginx_on_keep_alives_and_is_cut_without_them()
    {
        // Keep-alives every 500 ms through a 2 s idle timeout, for six timeouts; then an event still arrives.
        var (kept, keepAlives, lastEvent) = await ReadEventsThroughNginxAsync(TimeSpan.FromMilliseconds(500), ProxyTimeout * 6, createJob: true);
        Assert.True(kept, "nginx cut the event stream although keep-alives came every 500 ms");
        Assert.True(keepAlives >= 12, $"{keepAlives} keep-alive comments in six proxy timeouts");
        Assert.Equal("job.created", lastEvent);

        // The same stream with no keep-alive: nginx cuts it.
        var (silentKept, _, _) = await ReadEventsThroughNginxAsync(TimeSpan.FromHours(1), ProxyTimeout * 3, createJob: false);
        Assert.False(silentKept, "nginx did not cut a silent event stream within three of its timeouts");
    }

    /// <returns>Whether the stream was still open after <paramref name="hold"/>, the comments read, and the type of the last event read.</returns>
    private static async Task<(bool Open, int KeepAlives, string? LastEvent)> ReadEventsThroughNginxAsync(TimeSpan keepAlive, TimeSpan hold, bool createJob)
    {
        var apiPort = LoopbackPorts.Free();
        await using var server = await ManagementServer.StartAsync(
            options => options.EventsKeepAliveInterval = keepAlive,
            kestrel: kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, apiPort, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1));
        await using var proxy = await ReverseProxy.StartAsync(ProxyKind.Nginx, server.Address.Port, ProxyTimeout, apiUpstreamPort: apiPort);
        using var api = new HttpClient { BaseAddress = proxy.Address, DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        await using var events = await SseClient.ConnectAsync(api, "/api/events");
        Assert.Equal(System.Net.HttpStatusCode.OK, events.Response.StatusCode);
        var cut = await Task.WhenAny(events.Ended, Task.Delay(hold)) == events.Ended;
        string? last = null;
        if (!cut && createJob)
        {
            using var peer = WireGuardKeyPair.Generate();
            var peerId = await server.RegisterAsync(peer);
            using var created = await server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
            last = (await events.NextAsync()).Type;
        }

        return (!cut, events.Comments, last);
    }

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
