using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>
/// Streams that never prove who they are, sent by a raw HTTP/2 client (not our gRPC client): silent, half-sent and
/// oversized hellos, and more of them than the host lets wait. Each ends with a clear gRPC status, the wait is bounded
/// in time and number, and a real peer is served throughout.
/// </summary>
public sealed class HelloGateTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_silent_stream_ends_with_DeadlineExceeded_exactly_when_its_hello_is_overdue()
    {
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(options => options.HelloTimeout = TimeSpan.FromSeconds(10), management => management.UseScheduler(clock));
        using var connection = new RawHttp2Connection(server.Address);
        var gate = server.Service<HelloGate>();

        var silent = connection.OpenJobStream([]);
        await Eventually.TrueAsync(() => gate.Awaiting == 1, "the silent stream to wait for its hello");
        clock.AdvanceBy(TimeSpan.FromSeconds(10).Ticks - 1);
        await Task.Delay(50);
        Assert.False(silent.IsCompleted, "ended before its deadline");

        clock.AdvanceBy(1);
        var (status, detail) = await silent.WaitAsync(Patience);

        Assert.Equal(StatusCode.DeadlineExceeded, status);
        Assert.Contains("no hello within 00:00:10", detail, StringComparison.Ordinal);
        Assert.Equal(0, gate.Awaiting);
    }

    [Fact]
    public async Task A_client_that_resets_before_its_hello_is_not_an_error_in_the_log()
    {
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(management => { }, management => management.UseScheduler(clock));
        var gate = server.Service<HelloGate>();
        var connection = new RawHttp2Connection(server.Address);
        var abandoned = connection.OpenJobStream([.. Prefix(150), .. new byte[20]]);
        await Eventually.TrueAsync(() => gate.Awaiting == 1, "the stream to wait for its hello");

        connection.Dispose();

        await Eventually.TrueAsync(() => gate.Awaiting == 0, "the abandoned stream to be let go");
        await Eventually.TrueAsync(() => server.Logs.Entries.Any(entry => entry.EventId.Id == 203), "the Debug line for a stream abandoned before its hello");
        Assert.Equal(LogLevel.Debug, server.Logs.Entries.Single(entry => entry.EventId.Id == 203).Level);
        Assert.DoesNotContain(server.Logs.Entries, entry => entry.Level >= LogLevel.Warning);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
    }

    [Fact]
    public async Task A_half_sent_hello_ends_with_DeadlineExceeded_when_it_is_overdue()
    {
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(options => options.HelloTimeout = TimeSpan.FromSeconds(10), management => management.UseScheduler(clock));
        using var connection = new RawHttp2Connection(server.Address);
        var gate = server.Service<HelloGate>();

        // The prefix announces 150 bytes; 60 come.
        var halfSent = connection.OpenJobStream([.. Prefix(150), .. new byte[60]]);
        await Eventually.TrueAsync(() => gate.Awaiting == 1, "the half-sent hello to wait");
        clock.AdvanceBy(TimeSpan.FromSeconds(10).Ticks);

        Assert.Equal(StatusCode.DeadlineExceeded, (await halfSent.WaitAsync(Patience)).Status);
    }

    [Fact]
    public async Task A_hello_announcing_more_than_the_bound_is_refused_at_its_prefix_not_buffered()
    {
        // The deadline never passes (virtual time stands still): only the size check can end these streams.
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(management => { }, management => management.UseScheduler(clock));
        using var connection = new RawHttp2Connection(server.Address);

        // 1 MiB announced (MaxMessageSize would allow it), 700 KB sent.
        var refused = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => connection.OpenJobStream([.. Prefix(1024 * 1024), .. new byte[700_000]])))
            .WaitAsync(Patience);

        Assert.All(refused, outcome => Assert.Equal(StatusCode.ResourceExhausted, outcome.Status));
        Assert.Contains($"a hello is at most {HelloGate.MaxHelloBytes}", refused[0].Detail, StringComparison.Ordinal);
        Assert.Equal(0, server.Service<HelloGate>().Awaiting);
    }

    [Fact]
    public async Task Streams_awaiting_their_hello_are_capped_per_connection_and_per_host()
    {
        var clock = new TestScheduler();
        await using var server = await ManagementServer.StartAsync(
            options =>
            {
                options.MaxStreamsAwaitingHelloPerConnection = 3;
                options.MaxStreamsAwaitingHello = 5;
            },
            management => management.UseScheduler(clock));
        var gate = server.Service<HelloGate>();
        using var first = new RawHttp2Connection(server.Address);
        using var second = new RawHttp2Connection(server.Address);

        var waiting = Enumerable.Range(0, 3).Select(_ => first.OpenJobStream([])).ToList();
        await Eventually.TrueAsync(() => gate.Awaiting == 3, "three silent streams on the first connection");
        var overConnectionCap = await first.OpenJobStream([]).WaitAsync(Patience);
        waiting.Add(second.OpenJobStream([]));
        waiting.Add(second.OpenJobStream([]));
        await Eventually.TrueAsync(() => gate.Awaiting == 5, "two more on the second connection");
        var overHostCap = await second.OpenJobStream([]).WaitAsync(Patience);

        Assert.Equal(StatusCode.ResourceExhausted, overConnectionCap.Status);
        Assert.Equal(StatusCode.ResourceExhausted, overHostCap.Status);
        Assert.Contains("awaiting their hello", overHostCap.Detail, StringComparison.Ordinal);
        Assert.All(waiting, stream => Assert.False(stream.IsCompleted));

        clock.AdvanceBy(TimeSpan.FromSeconds(10).Ticks);
        Assert.All(await Task.WhenAll(waiting).WaitAsync(Patience), outcome => Assert.Equal(StatusCode.DeadlineExceeded, outcome.Status));
        Assert.Equal(0, gate.Awaiting);
    }

    internal static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    internal static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    /// <summary>A gRPC message prefix: not compressed, then the length, big-endian.</summary>
    internal static byte[] Prefix(int length)
    {
        var prefix = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)length);
        return prefix;
    }
}

/// <summary>
/// The flood of unproven streams, on a real clock. Runs alone: a thousand streams and 14 MB of half-sent hellos load the
/// machine's two cores enough to starve the heartbeats of tests running beside it (a proxy test then sees its stream cut).
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class HelloFloodTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The attack from the outside run (issue 12), on a real clock: thousands of silent streams and streams sending the
    /// most of a huge hello, over many connections, while a real peer keeps its heartbeats and answers a job.
    /// </summary>
    [Fact]
    public async Task Under_a_flood_of_unproven_streams_each_ends_with_a_clear_status_and_a_real_peer_is_served()
    {
        await using var server = await ManagementServer.StartAsync(options =>
        {
            options.HelloTimeout = TimeSpan.FromSeconds(2);
            options.MaxStreamsAwaitingHello = 300;
        });
        var gate = server.Service<HelloGate>();
        using var bystander = WireGuardKeyPair.Generate();
        var bystanderId = await server.RegisterAsync(bystander, "bystander");
        var (bystanderStream, bystanderJob) = await server.ConnectAndAwaitJobAsync(bystander);
        await using var _ = bystanderStream;
        var heartbeats = 0;
        using var counting = bystanderStream.Requests.Where(request => request.IsHeartbeat()).Subscribe(_ => Interlocked.Increment(ref heartbeats));

        var connections = Enumerable.Range(0, 24).Select(_ => new RawHttp2Connection(server.Address)).ToList();
        try
        {
            var most = 0;
            using var sampling = Observable.Interval(TimeSpan.FromMilliseconds(5)).Subscribe(_ => HelloGateTests.InterlockedMax(ref most, gate.Awaiting));
            var silent = connections.Take(20).SelectMany(connection => Enumerable.Range(0, 50).Select(_ => connection.OpenJobStream([])));
            var huge = connections.Skip(20).SelectMany(connection => Enumerable.Range(0, 10).Select(_ => connection.OpenJobStream([.. HelloGateTests.Prefix(1024 * 1024), .. new byte[700_000]])));
            var outcomes = await Task.WhenAll(silent.Concat(huge)).WaitAsync(TimeSpan.FromSeconds(60));

            var byStatus = outcomes.GroupBy(outcome => outcome.Status).ToDictionary(group => group.Key, group => group.Count());
            Assert.Equal(1_040, outcomes.Length);
            Assert.True(byStatus.Keys.All(status => status is StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted), string.Join(", ", byStatus));
            Assert.True(byStatus.GetValueOrDefault(StatusCode.DeadlineExceeded) > 0, "some silent streams were let wait, then timed out");
            Assert.True(most <= 300, $"{most} streams awaited their hello at once; the limit is 300");
            Assert.Equal(0, gate.Awaiting);

            // The real peer was served throughout, and still is.
            Assert.True(Volatile.Read(ref heartbeats) >= 5, $"the bystander got {heartbeats} heartbeats");
            using var created = await server.Api.PostAsync($"/api/peers/{bystanderId}/jobs", HelloGateTests.JsonContent("""{"workload":{"type":"bundle"}}"""));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.False(string.IsNullOrEmpty((await bystanderJob.WaitAsync(Patience)).ID.ToBase64()));
        }
        finally
        {
            connections.ForEach(connection => connection.Dispose());
        }
    }

}

/// <summary>
/// One HTTP/2 connection that speaks gRPC by hand: a Job call whose request body is whatever bytes the test gives, then
/// silence (the request side stays open), as no well-behaved gRPC client would.
/// </summary>
internal sealed class RawHttp2Connection : IDisposable
{
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _closing = new();

    public RawHttp2Connection(Uri address)
    {
        // One handler, one connection: streams beyond the server's concurrent-stream limit queue on it.
        _client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = false })
        {
            BaseAddress = address,
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Opens a Job call that sends <paramref name="body"/> and then nothing; completes with the call's gRPC status.</summary>
    public async Task<(StatusCode Status, string Detail)> OpenJobStream(byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/management.ManagementService/Job")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new HangingContent(body, _closing.Token),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _closing.Token);
        // Trailers-only (the status in the headers), or a body and then trailers.
        if (!response.Headers.TryGetValues("grpc-status", out var status))
        {
            await response.Content.CopyToAsync(Stream.Null, _closing.Token);
            status = response.TrailingHeaders.GetValues("grpc-status");
        }

        var detail = response.Headers.TryGetValues("grpc-message", out var message) || response.TrailingHeaders.TryGetValues("grpc-message", out message)
            ? Uri.UnescapeDataString(message.Single())
            : "";
        return ((StatusCode)int.Parse(status.Single(), System.Globalization.CultureInfo.InvariantCulture), detail);
    }

    public void Dispose()
    {
        _closing.Cancel();
        _client.Dispose();
        _closing.Dispose();
    }

    private sealed class HangingContent(byte[] body, CancellationToken closing) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(body, closing);
            await stream.FlushAsync(closing);
            // Cancelled when the connection is disposed: the request then ends with a reset (RST_STREAM), not cleanly.
            await Task.Delay(Timeout.Infinite, closing);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
