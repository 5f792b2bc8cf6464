using Grpc.Core;
using Microsoft.Reactive.Testing;
using Reactive.Management.Client;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Xunit;
using static Reactive.Management.Tests.TestSupport.VirtualTime;

namespace Reactive.Management.Tests.Client;

/// <summary>The client's watchdog, backoff and reset, on virtual time with a scripted dialer.</summary>
public class JobStreamClientTests : ReactiveTest
{
    private static readonly JobRequest Heartbeat = JobMessages.CreateHeartbeat();
    private static readonly RpcException Unavailable = new(new Status(StatusCode.Unavailable, "connection refused"));

    private readonly TestScheduler _scheduler = new();

    [Fact]
    public void A_silent_stream_is_torn_down_at_the_liveness_timeout_and_redialed()
    {
        var dialer = new ScriptedDialer(_scheduler, n => ScriptedDialer.Outcome.Session(
            _scheduler.CreateColdObservable(OnNext(Seconds(30), Heartbeat), OnNext(Seconds(60), Heartbeat))));
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false, InitialBackoff = TimeSpan.FromSeconds(1) });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(140));

        // Last heartbeat at 60 s; 75 s of silence later the stream is declared dead.
        dialer.Sessions[0].Script.Subscriptions.AssertEqual(Subscribe(0, Seconds(135)));
        Assert.True(dialer.Sessions[0].Disposed);
        Assert.Equal([0, Seconds(136)], dialer.DialTimes);
        var reconnecting = Assert.Single(states, s => s.Status == JobStreamStatus.Reconnecting);
        Assert.Equal(Seconds(135), reconnecting.At.UtcTicks);
        Assert.Equal("nothing received for 75 s", reconnecting.Reason);
        Assert.Equal(2, client.HeartbeatsReceived);
    }

    [Fact]
    public void Failed_dials_back_off_exponentially_up_to_the_cap()
    {
        var dialer = new ScriptedDialer(_scheduler, _ => ScriptedDialer.Outcome.Fail(Unavailable));
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(60));

        double[] expectedSeconds = [0.8, 1.36, 2.312, 3.9304, 6.68168, 10, 10, 10];
        var delays = states.Where(s => s.Status == JobStreamStatus.Reconnecting).Select(s => s.RetryIn!.Value.TotalSeconds).Take(expectedSeconds.Length).ToList();
        Assert.Equal(expectedSeconds.Length, delays.Count);
        foreach (var (expected, actual) in expectedSeconds.Zip(delays))
        {
            Assert.Equal(expected, actual, precision: 3);
        }

        // Each dial follows the previous failure by exactly the announced delay.
        var gaps = dialer.DialTimes.Zip(dialer.DialTimes.Skip(1), (a, b) => TimeSpan.FromTicks(b - a).TotalSeconds).Take(expectedSeconds.Length);
        Assert.All(expectedSeconds.Zip(gaps), pair => Assert.Equal(pair.First, pair.Second, precision: 3));
        Assert.Equal("Unavailable: connection refused", states.First(s => s.Status == JobStreamStatus.Reconnecting).Reason);
    }

    [Fact]
    public void Jitter_draws_each_delay_between_zero_and_its_ceiling()
    {
        var dialer = new ScriptedDialer(_scheduler, _ => ScriptedDialer.Outcome.Fail(Unavailable));
        using var client = new JobStreamClient(dialer, new JobStreamClientOptions(), _scheduler, new FixedRandom(0.25));
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(5));

        var delays = states.Where(s => s.Status == JobStreamStatus.Reconnecting).Select(s => s.RetryIn!.Value.TotalSeconds).Take(3).ToList();
        Assert.Equal([0.2, 0.34, 0.578], delays.Select(d => Math.Round(d, 3)));
    }

    [Fact]
    public void A_stream_that_stayed_up_long_enough_resets_the_backoff()
    {
        // Dials 1–3 fail; dial 4 opens a stream that lives 70 s (heartbeats every 30 s) and then fails.
        var dialer = new ScriptedDialer(_scheduler, n => n switch
        {
            <= 3 => ScriptedDialer.Outcome.Fail(Unavailable),
            4 => ScriptedDialer.Outcome.Session(_scheduler.CreateColdObservable(
                OnNext(Seconds(30), Heartbeat),
                OnNext(Seconds(60), Heartbeat),
                OnError<JobRequest>(Seconds(70), Unavailable))),
            _ => ScriptedDialer.Outcome.Fail(Unavailable),
        });
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(120));

        var delays = states.Where(s => s.Status == JobStreamStatus.Reconnecting).Select(s => Math.Round(s.RetryIn!.Value.TotalSeconds, 3)).ToList();
        Assert.Equal([0.8, 1.36, 2.312, 0.8, 1.36], delays.Take(5));
    }

    [Fact]
    public void A_short_lived_stream_does_not_reset_the_backoff()
    {
        var dialer = new ScriptedDialer(_scheduler, n => n switch
        {
            <= 2 => ScriptedDialer.Outcome.Fail(Unavailable),
            3 => ScriptedDialer.Outcome.Session(_scheduler.CreateColdObservable(OnError<JobRequest>(Seconds(5), Unavailable))),
            _ => ScriptedDialer.Outcome.Fail(Unavailable),
        });
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(30));

        var delays = states.Where(s => s.Status == JobStreamStatus.Reconnecting).Select(s => Math.Round(s.RetryIn!.Value.TotalSeconds, 3)).Take(4).ToList();
        Assert.Equal([0.8, 1.36, 2.312, 3.93], delays);
    }

    [Theory]
    [InlineData(StatusCode.PermissionDenied)]
    [InlineData(StatusCode.Unauthenticated)]
    public void A_refused_peer_is_faulted_and_retried_only_at_the_cap(StatusCode status)
    {
        var dialer = new ScriptedDialer(_scheduler, _ => ScriptedDialer.Outcome.Fail(new RpcException(new Status(status, "peer is not registered"))));
        using var client = NewClient(dialer, new JobStreamClientOptions { MaxBackoff = TimeSpan.FromSeconds(10) });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(35));

        Assert.Equal([0, Seconds(10), Seconds(20), Seconds(30)], dialer.DialTimes);
        var faulted = states.Where(s => s.Status == JobStreamStatus.Faulted).ToList();
        Assert.Equal(4, faulted.Count);
        Assert.All(faulted, s => Assert.Equal(TimeSpan.FromSeconds(10), s.RetryIn));
        Assert.Equal($"{status}: peer is not registered", faulted[0].Reason);
    }

    [Fact]
    public void A_stream_the_server_ends_is_redialed()
    {
        var dialer = new ScriptedDialer(_scheduler, n => ScriptedDialer.Outcome.Session(n == 1
            ? _scheduler.CreateColdObservable(OnNext(Seconds(1), Heartbeat), OnCompleted<JobRequest>(Seconds(2)))
            : _scheduler.CreateColdObservable<JobRequest>()));
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var states = Record(client);

        client.Start();
        _scheduler.AdvanceTo(Seconds(5));

        Assert.Equal([0, Seconds(2.8)], dialer.DialTimes);
        Assert.Equal("the server ended the Job stream", states.Single(s => s.Status == JobStreamStatus.Reconnecting).Reason);
        Assert.Equal(
            [JobStreamStatus.Connecting, JobStreamStatus.Connected, JobStreamStatus.Reconnecting, JobStreamStatus.Connecting, JobStreamStatus.Connected],
            states.Select(s => s.Status));
    }

    [Fact]
    public void Jobs_flow_across_streams_and_heartbeats_are_counted_but_left_out()
    {
        var first = new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()) };
        var second = new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()) };
        var dialer = new ScriptedDialer(_scheduler, n => ScriptedDialer.Outcome.Session(n == 1
            ? _scheduler.CreateColdObservable(OnNext(Seconds(1), Heartbeat), OnNext(Seconds(2), first), OnError<JobRequest>(Seconds(3), Unavailable))
            : _scheduler.CreateColdObservable(OnNext(Seconds(1), second), OnNext(Seconds(2), Heartbeat))));
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var jobs = new List<JobRequest>();
        using var subscription = client.Jobs.Subscribe(jobs.Add);

        client.Start();
        _scheduler.AdvanceTo(Seconds(10));

        Assert.Equal([first, second], jobs);
        Assert.Equal(2, client.HeartbeatsReceived);
        Assert.Equal(2, client.Dials);
    }

    [Fact]
    public void Answers_go_to_the_open_stream_and_are_refused_between_streams()
    {
        var dialer = new ScriptedDialer(_scheduler, n => n == 1
            ? ScriptedDialer.Outcome.Session(_scheduler.CreateColdObservable(OnError<JobRequest>(Seconds(5), Unavailable)))
            : ScriptedDialer.Outcome.Fail(Unavailable));
        using var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var answer = new JobResponse { ID = JobIds.ToWire(Guid.NewGuid()), Status = JobStatus.Succeeded };

        client.Start();
        Assert.True(client.Answer(answer));
        _scheduler.AdvanceTo(Seconds(5));

        Assert.False(client.Answer(answer));
        Assert.Equal([answer], dialer.Sessions[0].Answers);
    }

    [Fact]
    public void Disposing_closes_the_stream_and_stops_dialing()
    {
        var dialer = new ScriptedDialer(_scheduler, _ => ScriptedDialer.Outcome.Session(_scheduler.CreateColdObservable<JobRequest>()));
        var client = NewClient(dialer, new JobStreamClientOptions { Jitter = false });
        var states = Record(client);
        client.Start();
        _scheduler.AdvanceTo(Seconds(1));

        client.Dispose();
        _scheduler.AdvanceTo(Seconds(600));

        Assert.True(dialer.Sessions.Single().Disposed);
        dialer.Sessions[0].Script.Subscriptions.AssertEqual(Subscribe(0, Seconds(1)));
        Assert.Single(dialer.DialTimes);
        Assert.Equal(JobStreamStatus.Stopped, states[^1].Status);
    }

    [Fact]
    public void Options_out_of_range_are_refused_with_their_name()
    {
        var dialer = new ScriptedDialer(_scheduler, _ => ScriptedDialer.Outcome.Fail(Unavailable));

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => NewClient(dialer, new JobStreamClientOptions { MaxBackoff = TimeSpan.FromMilliseconds(1) }));

        Assert.Contains("MaxBackoff", error.Message, StringComparison.Ordinal);
    }

    private JobStreamClient NewClient(IJobStreamDialer dialer, JobStreamClientOptions options) => new(dialer, options, _scheduler);

    private static List<JobStreamState> Record(JobStreamClient client)
    {
        var states = new List<JobStreamState>();
        client.States.Subscribe(states.Add);
        return states;
    }

    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }
}
