using System.Collections.Concurrent;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Scheduling;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary><c>Management:HeartbeatScheduler</c> and <c>Management:HeartbeatJitter</c> in a real host.</summary>
public sealed class HeartbeatSchedulingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task By_default_every_stream_heartbeat_and_job_deadline_is_an_entry_in_one_timer_wheel()
    {
        await using var server = await ManagementServer.StartAsync();
        var wheel = Assert.IsType<TimerWheelScheduler>(server.Service<ManagementScheduler>().Timers);
        var peers = Enumerable.Range(0, 3).Select(_ => WireGuardKeyPair.Generate()).ToList();
        var connections = new List<Reactive.Management.Client.JobStreamConnection>();
        foreach (var peer in peers)
        {
            await server.RegisterAsync(peer);
            connections.Add(await server.ConnectAsync(peer));
        }

        await Task.WhenAll(connections.Select(connection => connection.Requests.FirstAsync(JobMessages.IsHeartbeat).ToTask().WaitAsync(Patience)));
        Assert.True(wheel.Count >= peers.Count, $"one heartbeat entry per stream; the wheel holds {wheel.Count}");

        // A job for a peer that is not connected waits pending: its deadline is one more entry, not a runtime timer.
        using var offline = WireGuardKeyPair.Generate();
        var offlineId = await server.RegisterAsync(offline);
        var before = wheel.Count;
        using var created = await server.Api.PostAsync(
            new Uri($"/api/peers/{offlineId}/jobs", UriKind.Relative),
            new StringContent("""{"workload":{"type":"bundle"}}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(before + 1, wheel.Count);

        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }

        peers.ForEach(peer => peer.Dispose());
    }

    [Fact]
    public async Task With_the_default_scheduler_heartbeats_run_on_runtime_timers_and_still_come()
    {
        await using var server = await ManagementServer.StartAsync(options => options.HeartbeatScheduler = "default");
        using var peer = WireGuardKeyPair.Generate();
        await server.RegisterAsync(peer);

        await using var connection = await server.ConnectAsync(peer);

        Assert.Same(DefaultScheduler.Instance, server.Service<ManagementScheduler>().Timers);
        var heartbeats = await connection.Requests.Where(JobMessages.IsHeartbeat).Take(2).ToList().ToTask().WaitAsync(Patience);
        Assert.Equal(2, heartbeats.Count);
    }

    /// <summary>
    /// Twenty peers connect in one virtual instant (a mass reconnect). Each heartbeat is stamped with the virtual time
    /// at which it entered its stream's pipeline (an outgoing operator sees it): without jitter all twenty first
    /// heartbeats share one instant; with jitter 0.5 they spread over the interval's second half, and each stream's
    /// second heartbeat comes one full interval after its first.
    /// </summary>
    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public async Task Jitter_spreads_the_first_heartbeats_of_streams_opened_in_one_instant(double jitter)
    {
        var clock = new TestScheduler();
        var interval = TimeSpan.FromSeconds(30);
        var beats = new ConcurrentDictionary<string, ConcurrentQueue<long>>();
        await using var server = await ManagementServer.StartAsync(
            options =>
            {
                options.HeartbeatInterval = interval;
                options.HeartbeatJitter = jitter;
            },
            management => management
                .UseScheduler(clock)
                .AddOutgoingOperator((requests, stream) => requests.Do(request =>
                {
                    if (request.IsHeartbeat())
                    {
                        beats.GetOrAdd(stream.Peer.Id, _ => new ConcurrentQueue<long>()).Enqueue(clock.Clock);
                    }
                })));
        var peers = Enumerable.Range(0, 20).Select(_ => WireGuardKeyPair.Generate()).ToList();
        var connections = new List<Reactive.Management.Client.JobStreamConnection>();
        foreach (var peer in peers)
        {
            await server.RegisterAsync(peer);
            connections.Add(await server.ConnectAsync(peer));
            await Eventually.TrueAsync(() => server.Service<JobHub>().IsConnected(peer.PublicKey), "the stream to be registered");
        }

        // Two intervals in 100 ms steps, so each heartbeat is stamped within one step of its due time.
        for (var step = 0; step < 600; step++)
        {
            clock.AdvanceBy(TimeSpan.FromMilliseconds(100).Ticks);
        }

        var first = beats.Values.Select(stamps => stamps.First()).ToList();
        var second = beats.Values.Select(stamps => stamps.Skip(1).First()).ToList();
        Assert.Equal(20, first.Count);
        if (jitter == 0)
        {
            Assert.All(first, at => Assert.Equal(interval.Ticks, at));
        }
        else
        {
            Assert.All(first, at => Assert.InRange(at, interval.Ticks / 2, interval.Ticks));
            Assert.True(first.Distinct().Count() >= 15, $"the first heartbeats fell on {first.Distinct().Count()} instants of 20");
        }

        Assert.All(beats.Values, stamps => Assert.Equal(interval.Ticks, stamps.Skip(1).First() - stamps.First()));
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }

        peers.ForEach(peer => peer.Dispose());
    }
}
