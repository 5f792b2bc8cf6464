using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>The host's limits (streams, job rate), who may use the API, health, metrics and option validation.</summary>
public sealed class LimitsAndAccessTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Beyond_the_stream_limit_a_new_peer_gets_ResourceExhausted_but_a_connected_peer_may_reconnect()
    {
        await using var server = await ManagementServer.StartAsync(options => options.MaxConcurrentStreams = 2);
        using var a = WireGuardKeyPair.Generate();
        using var b = WireGuardKeyPair.Generate();
        using var c = WireGuardKeyPair.Generate();
        foreach (var peer in new[] { a, b, c })
        {
            await server.RegisterAsync(peer);
        }

        await using var first = await server.ConnectAsync(a);
        await using var second = await server.ConnectAsync(b);
        await first.Requests.FirstAsync().ToTask().WaitAsync(Patience);
        await second.Requests.FirstAsync().ToTask().WaitAsync(Patience);

        await using var third = await server.ConnectAsync(c);
        var refused = await Assert.ThrowsAsync<RpcException>(() => third.Requests.ToTask().WaitAsync(Patience));
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);

        await using var again = await server.ConnectAsync(a);
        Assert.True((await again.Requests.FirstAsync().ToTask().WaitAsync(Patience)).IsHeartbeat());
        Assert.Equal(2, server.Service<JobHub>().ConnectedCount);
    }

    [Fact]
    public async Task Job_creation_beyond_the_rate_limit_gets_429_until_the_bucket_refills_on_the_scheduler()
    {
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(
            options =>
            {
                options.MaxJobsPerSecond = 2;
                options.JobCreationBurst = 3;
            },
            management => management.UseScheduler(clock));
        using var peer = WireGuardKeyPair.Generate();
        var peerId = await server.RegisterAsync(peer);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            statuses.Add(await CreateJobAsync(server.Api, peerId));
        }

        Assert.Equal([HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.TooManyRequests], statuses);
        using (var refused = await server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } }))
        {
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }

        // One second of the scheduler refills two.
        clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        Assert.Equal(HttpStatusCode.Created, await CreateJobAsync(server.Api, peerId));
        Assert.Equal(HttpStatusCode.Created, await CreateJobAsync(server.Api, peerId));
        Assert.Equal(HttpStatusCode.TooManyRequests, await CreateJobAsync(server.Api, peerId));
        Assert.Contains(server.Logs.Entries, entry => entry.EventId.Id == 602);
    }

    [Fact]
    public async Task On_loopback_without_a_token_the_API_is_open()
    {
        await using var server = await ManagementServer.StartAsync();

        using var response = await server.Api.GetAsync("/api/peers");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(server.Logs.Entries, entry => entry.EventId.Id == 600);
    }

    [Fact]
    public async Task Beyond_loopback_the_API_needs_the_token_printed_once_at_start()
    {
        await using var server = await ManagementServer.StartAsync(listenOn: IPAddress.Any);
        var printed = Assert.Single(server.Logs.Entries, entry => entry.EventId.Id == 600);
        var token = printed.Message[(printed.Message.LastIndexOf(' ') + 1)..];

        using var anonymous = await server.Api.GetAsync("/api/peers");
        using var wrong = await SendAsync(server.Api, "/api/peers", "not-the-token");
        using var right = await SendAsync(server.Api, "/api/peers", token);

        Assert.True(anonymous.StatusCode == HttpStatusCode.Unauthorized, await anonymous.Content.ReadAsStringAsync());
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(2, server.Logs.Entries.Count(entry => entry.EventId.Id == 601));
        // Health probes stay open.
        Assert.Equal(HttpStatusCode.OK, (await server.Api.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task A_configured_token_is_required_even_on_loopback_and_never_logged()
    {
        const string token = "a-configured-token-0123456789";
        await using var server = await ManagementServer.StartAsync(options => options.ApiToken = token);

        using var anonymous = await server.Api.GetAsync("/api/peers");
        using var right = await SendAsync(server.Api, "/api/peers", token);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.DoesNotContain(server.Logs.Entries, entry => entry.Message.Contains(token, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://127.0.0.1:33071", true)]
    [InlineData("http://[::1]:5000", true)]
    [InlineData("http://localhost:5000", true)]
    [InlineData("http://0.0.0.0:33073", false)]
    [InlineData("http://[::]:80", false)]
    [InlineData("http://*:80", false)]
    [InlineData("http://10.0.0.5:80", false)]
    public void Listening_addresses_are_told_apart(string address, bool loopback) =>
        Assert.Equal(loopback, Reactive.Management.Hosting.Api.ApiAccess.IsLoopback(address));

    [Fact]
    public async Task Health_is_reported_over_HTTP_and_gRPC()
    {
        await using var server = await ManagementServer.StartAsync();

        using var health = await server.Api.GetAsync("/healthz");
        await server.NewClient().isHealthyAsync(new Empty());

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_store_that_does_not_answer_makes_the_host_unhealthy()
    {
        await using var server = await ManagementServer.StartAsync(extend: management => management.UseJobStore<BrokenJobStore>());

        using var health = await server.Api.GetAsync("/healthz");
        var error = await Assert.ThrowsAsync<RpcException>(() => server.NewClient().isHealthyAsync(new Empty()).ResponseAsync);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task The_meter_reports_streams_heartbeats_and_jobs()
    {
        await using var server = await ManagementServer.StartAsync();
        var measured = new System.Collections.Concurrent.ConcurrentDictionary<string, double>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ManagementMetrics.MeterName && instrument.Meter.Scope == server.Service<IMeterFactory>())
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measured.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => measured.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        listener.Start();
        using var peer = WireGuardKeyPair.Generate();
        var peerId = await server.RegisterAsync(peer);

        var (connection, delivered) = await server.ConnectAndAwaitJobAsync(peer);
        await connection.Requests.Where(request => request.IsHeartbeat()).Take(2).ToTask().WaitAsync(Patience);
        var job = await server.Service<JobBoard>().CreateAsync(await server.FindPeerAsync(peerId), new BundleParameters());
        connection.Answer(new JobResponse { ID = (await delivered.WaitAsync(Patience)).ID, Status = JobStatus.Succeeded });
        await server.Service<JobBoard>().WhenFinishedAsync(job.Id).WaitAsync(Patience);
        await connection.DisposeAsync();
        await Eventually.TrueAsync(() => measured.ContainsKey("reactive_management.stream.duration"), "the stream's duration to be recorded");

        Assert.True(measured["reactive_management.heartbeats.sent"] >= 2);
        Assert.Equal(1, measured["reactive_management.jobs.created"]);
        Assert.Equal(1, measured["reactive_management.jobs.sent"]);
        Assert.Equal(1, measured["reactive_management.jobs.completed"]);
        Assert.Equal(0, measured["reactive_management.peers.connected"]);
    }

    [Theory]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.StuckWriteTimeout))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.MaxQueuedJobsPerStream))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.MaxMessageSize))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.MaxConcurrentStreams))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.MaxJobsPerSecond))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.JobCreationBurst))]
    [InlineData(nameof(Reactive.Management.Hosting.ManagementOptions.ApiToken))]
    public async Task A_bad_limit_stops_the_start_naming_the_setting(string setting)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => ManagementServer.StartAsync(options =>
        {
            switch (setting)
            {
                case nameof(options.StuckWriteTimeout): options.StuckWriteTimeout = TimeSpan.Zero; break;
                case nameof(options.MaxQueuedJobsPerStream): options.MaxQueuedJobsPerStream = 0; break;
                case nameof(options.MaxMessageSize): options.MaxMessageSize = 100; break;
                case nameof(options.MaxConcurrentStreams): options.MaxConcurrentStreams = 0; break;
                case nameof(options.MaxJobsPerSecond): options.MaxJobsPerSecond = -1; break;
                case nameof(options.JobCreationBurst): options.JobCreationBurst = 0; break;
                default: options.ApiToken = "short"; break;
            }
        }));

        Assert.Contains($"Management:{setting}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("short", error.Message.Replace("Management:ApiToken", "", StringComparison.Ordinal).Replace("shortest", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> CreateJobAsync(HttpClient api, string peerId)
    {
        using var response = await api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        return response.StatusCode;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient api, string path, string token)
    {
        // The host speaks HTTP/2 only; a request message of our own does not take the client's default version.
        using var request = new HttpRequestMessage(HttpMethod.Get, path) { Version = api.DefaultRequestVersion, VersionPolicy = api.DefaultVersionPolicy };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await api.SendAsync(request);
    }

    /// <summary>A store whose database is gone.</summary>
    private sealed class BrokenJobStore : IJobStore
    {
        public ValueTask AddAsync(Job job, CancellationToken cancellationToken = default) => throw new IOException("disk I/O error");

        public ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default) => throw new IOException("disk I/O error");

        public ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default) => throw new IOException("disk I/O error");

        public ValueTask<bool> TryUpdateAsync(Job updated, IReadOnlyCollection<JobState> expectedStates, CancellationToken cancellationToken = default) =>
            throw new IOException("disk I/O error");

        public ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default) =>
            peer is null ? ValueTask.FromResult<IReadOnlyList<Job>>([]) : throw new IOException("disk I/O error");

        public ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default) =>
            throw new IOException("disk I/O error");
    }
}
