using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Reactive.Management.Streams;
using Xunit;
using static Reactive.Management.Tests.TestSupport.VirtualTime;

namespace Reactive.Management.Tests.Streams;

public class HeartbeatObservableExtensionsTests : ReactiveTest
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    [Fact]
    public void Silence_gets_a_heartbeat_every_interval()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable<string>();

        var results = scheduler.Run(() => jobs.WithHeartbeat(Interval, () => "hb", scheduler), disposeAtSeconds: 100);

        results.Messages.AssertEqual(
            OnNext(Seconds(30), "hb"),
            OnNext(Seconds(60), "hb"),
            OnNext(Seconds(90), "hb"));
        jobs.Subscriptions.AssertEqual(Subscribe(0, Seconds(100)));
    }

    [Fact]
    public void A_job_passes_at_once_and_pushes_the_next_heartbeat_a_full_interval_later()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(45), "job"));

        var results = scheduler.Run(() => jobs.WithHeartbeat(Interval, () => "hb", scheduler), disposeAtSeconds: 110);

        results.Messages.AssertEqual(
            OnNext(Seconds(30), "hb"),
            OnNext(Seconds(45), "job"),
            OnNext(Seconds(75), "hb"),
            OnNext(Seconds(105), "hb"));
    }

    [Fact]
    public void Each_job_switches_to_a_fresh_heartbeat_timer_and_disposes_the_previous_one()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(45), "job1"), OnNext(Seconds(50), "job2"));
        var timers = new List<ITestableObservable<string>>();

        var results = scheduler.Run(
            () => jobs.WithHeartbeat(RecordedTimer(scheduler, timers, 30, 60)),
            disposeAtSeconds: 100);

        results.Messages.AssertEqual(
            OnNext(Seconds(30), "hb"),
            OnNext(Seconds(45), "job1"),
            OnNext(Seconds(50), "job2"),
            OnNext(Seconds(80), "hb"));
        Assert.Equal(3, timers.Count);
        timers[0].Subscriptions.AssertEqual(Subscribe(0, Seconds(45)));
        timers[1].Subscriptions.AssertEqual(Subscribe(Seconds(45), Seconds(50)));
        timers[2].Subscriptions.AssertEqual(Subscribe(Seconds(50), Seconds(100)));
    }

    [Fact]
    public void A_burst_of_jobs_passes_in_order_and_one_heartbeat_follows_the_last()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(
            OnNext(Seconds(10), "a"),
            OnNext(Seconds(10), "b"),
            OnNext(Seconds(10), "c"),
            OnNext(Seconds(11), "d"));

        var results = scheduler.Run(() => jobs.WithHeartbeat(Interval, () => "hb", scheduler), disposeAtSeconds: 50);

        results.Messages.AssertEqual(
            OnNext(Seconds(10), "a"),
            OnNext(Seconds(10), "b"),
            OnNext(Seconds(10), "c"),
            OnNext(Seconds(11), "d"),
            OnNext(Seconds(41), "hb"));
    }

    [Fact]
    public void Completion_of_the_jobs_completes_the_stream_and_stops_the_heartbeat()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(20), "job"), OnCompleted<string>(Seconds(70)));
        var timers = new List<ITestableObservable<string>>();

        var results = scheduler.Run(
            () => jobs.WithHeartbeat(RecordedTimer(scheduler, timers, 30, 60)),
            disposeAtSeconds: 200);

        results.Messages.AssertEqual(
            OnNext(Seconds(20), "job"),
            OnNext(Seconds(50), "hb"),
            OnCompleted<string>(Seconds(70)));
        jobs.Subscriptions.AssertEqual(Subscribe(0, Seconds(70)));
        timers[^1].Subscriptions.AssertEqual(Subscribe(Seconds(20), Seconds(70)));
    }

    [Fact]
    public void An_error_of_the_jobs_ends_the_stream_with_that_error_and_stops_the_heartbeat()
    {
        var scheduler = new TestScheduler();
        var failure = new InvalidOperationException("store failed");
        var jobs = scheduler.CreateHotObservable(OnError<string>(Seconds(40), failure));
        var timers = new List<ITestableObservable<string>>();

        var results = scheduler.Run(
            () => jobs.WithHeartbeat(RecordedTimer(scheduler, timers, 30, 60)),
            disposeAtSeconds: 200);

        results.Messages.AssertEqual(
            OnNext(Seconds(30), "hb"),
            OnError<string>(Seconds(40), failure));
        timers.Single().Subscriptions.AssertEqual(Subscribe(0, Seconds(40)));
    }

    [Fact]
    public void Disposing_the_subscription_unsubscribes_the_jobs_and_the_heartbeat_timer()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(5), "job"));
        var timers = new List<ITestableObservable<string>>();

        scheduler.Run(
            () => jobs.WithHeartbeat(RecordedTimer(scheduler, timers, 30)),
            disposeAtSeconds: 12);

        jobs.Subscriptions.AssertEqual(Subscribe(0, Seconds(12)));
        timers[0].Subscriptions.AssertEqual(Subscribe(0, Seconds(5)));
        timers[1].Subscriptions.AssertEqual(Subscribe(Seconds(5), Seconds(12)));
    }

    [Fact]
    public void The_heartbeat_factory_is_called_once_per_heartbeat()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable<int>();
        var made = 0;

        var results = scheduler.Run(() => jobs.WithHeartbeat(Interval, () => ++made, scheduler), disposeAtSeconds: 95);

        results.Messages.AssertEqual(
            OnNext(Seconds(30), 1),
            OnNext(Seconds(60), 2),
            OnNext(Seconds(90), 3));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void A_non_positive_interval_is_refused(int seconds)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(
            () => Observable.Never<int>().WithHeartbeat(TimeSpan.FromSeconds(seconds), () => 0, new TestScheduler()));
        Assert.Equal("interval", exception.ParamName);
    }

    /// <summary>A heartbeat factory whose every timer is a cold observable the test can inspect afterwards.</summary>
    [Fact]
    public void With_a_shorter_first_interval_the_first_heartbeat_comes_early_the_rest_keep_its_phase_and_a_job_resets_to_a_full_interval()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(100), "job"));

        var results = scheduler.Run(() => jobs.WithHeartbeat(Interval, () => "hb", scheduler, TimeSpan.FromSeconds(12)), disposeAtSeconds: 140);

        results.Messages.AssertEqual(
            OnNext(Seconds(12), "hb"),
            OnNext(Seconds(42), "hb"),
            OnNext(Seconds(72), "hb"),
            OnNext(Seconds(100), "job"),
            OnNext(Seconds(130), "hb"));
        jobs.Subscriptions.AssertEqual(Subscribe(0, Seconds(140)));
    }

    [Fact]
    public void Each_subscription_starts_early_once_even_when_the_sequence_is_subscribed_again()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(5), "job"));
        var stream = jobs.WithHeartbeat(Interval, () => "hb", scheduler, TimeSpan.FromSeconds(20));

        var first = scheduler.Run(() => stream, disposeAtSeconds: 60);
        var second = scheduler.Run(() => stream, disposeAtSeconds: 90);

        first.Messages.AssertEqual(OnNext(Seconds(5), "job"), OnNext(Seconds(35), "hb"));
        second.Messages.AssertEqual(OnNext(Seconds(80), "hb"));
    }

    [Fact]
    public void Jitter_spreads_the_heartbeats_of_a_mass_reconnect_and_the_spread_lasts()
    {
        // 200 streams open in the same instant (a proxy restart). Without jitter every heartbeat of every stream falls
        // on the same instant, interval after interval; with jitter 0.5 the first ones spread over the interval's last
        // half and every later one keeps its stream's phase.
        static SortedDictionary<long, int> BeatsPerInstant(double jitter)
        {
            var scheduler = new TestScheduler();
            var random = new Random(20261127);
            var beats = new SortedDictionary<long, int>();
            var streams = Enumerable.Range(0, 200).Select(_ =>
            {
                var first = Interval * (1 - jitter * random.NextDouble());
                return Observable.Never<string>().WithHeartbeat(Interval, () => "hb", scheduler, first)
                    .Subscribe(_ => beats[scheduler.Clock] = beats.GetValueOrDefault(scheduler.Clock) + 1);
            }).ToList();
            scheduler.AdvanceTo(Seconds(10 * 30));
            streams.ForEach(stream => stream.Dispose());
            return beats;
        }

        var withoutJitter = BeatsPerInstant(0);
        var withJitter = BeatsPerInstant(0.5);

        Assert.Equal(Enumerable.Range(1, 10).Select(n => Seconds(30 * n)), withoutJitter.Keys);
        Assert.All(withoutJitter.Values, count => Assert.Equal(200, count));
        Assert.Equal(2000, withJitter.Values.Sum());
        Assert.True(withJitter.Values.Max() <= 10, $"at most one beat per stream per instant over 10 intervals; got {withJitter.Values.Max()}");
        var lastInterval = withJitter.Keys.Where(at => at > Seconds(9 * 30)).ToList();
        Assert.True(lastInterval.Count >= 190, $"in the 10th interval the streams still beat at {lastInterval.Count} distinct instants");
        Assert.InRange(TimeSpan.FromTicks(lastInterval.Max() - lastInterval.Min()), TimeSpan.FromSeconds(14), TimeSpan.FromSeconds(15));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    public void A_first_interval_outside_zero_to_the_interval_is_refused(int seconds) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Observable.Never<string>().WithHeartbeat(Interval, () => "hb", new TestScheduler(), TimeSpan.FromSeconds(seconds)));

    private static Func<IObservable<string>> RecordedTimer(TestScheduler scheduler, List<ITestableObservable<string>> timers, params double[] beatsAtSeconds) => () =>
    {
        var timer = scheduler.CreateColdObservable([.. beatsAtSeconds.Select(at => OnNext(Seconds(at), "hb"))]);
        timers.Add(timer);
        return timer;
    };
}
