using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Time.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Streams;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// The same per-message work two ways: the Rx pipeline the server runs (merge, Switch-reset heartbeat, seal, one write
/// at a time, with the server's write policy) and <see cref="HandWrittenJobLoop"/>. Both seal with the stream's
/// precomputed key and hand each message to a null writer.
/// </summary>
/// <remarks>
/// Heartbeats: time is stepped, not waited for — the Rx heartbeat runs on a <see cref="HistoricalScheduler"/>, the
/// loop's <see cref="PeriodicTimer"/> on a <see cref="FakeTimeProvider"/>; each step fires one heartbeat, written before
/// the next step. Jobs: both run on the real clock (<see cref="DefaultScheduler"/>, <see cref="TimeProvider.System"/>),
/// as in production — no heartbeat falls due within the run, but every job resets a real timer (Rx: a new
/// <c>Interval</c> through <c>Switch</c>; the loop: <c>PeriodicTimer.Period</c>). Each benchmark waits until its
/// messages are written.
/// </remarks>
[MemoryDiagnoser]
[ThreadingDiagnoser]
public class RxVersusHandWrittenBenchmarks
{
    private const int Messages = 1_000;
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly CountingStreamWriter _rxWriter = new();
    private readonly CountingStreamWriter _loopWriter = new();
    private WireGuardKeyPair _server = null!;
    private WireGuardKeyPair _peer = null!;
    private SealedChannel _rxChannel = null!;
    private SealedChannel _loopChannel = null!;
    private Subject<JobRequest> _rxJobs = null!;
    private HistoricalScheduler _rxClock = null!;
    private IDisposable _rxSubscription = null!;
    private Channel<JobRequest> _loopJobs = null!;
    private FakeTimeProvider _loopClock = null!;
    private CancellationTokenSource _loopStop = null!;
    private Task _loop = null!;
    private Subject<JobRequest> _rxRealJobs = null!;
    private IDisposable _rxRealSubscription = null!;
    private Channel<JobRequest> _loopRealJobs = null!;
    private Task _loopReal = null!;
    private JobRequest _job = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = WireGuardKeyPair.Generate();
        _peer = WireGuardKeyPair.Generate();
        _job = new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()), Bundle = new BundleParameters { BundleFor = true, BundleForTime = 2, LogFileCount = 10 } };

        _rxChannel = new SealedChannel(_server, _peer.PublicKey);
        _rxJobs = new Subject<JobRequest>();
        _rxClock = new HistoricalScheduler(DateTimeOffset.UnixEpoch);
        _rxSubscription = JobStreamPipeline.WriteJobStream(_rxJobs, _rxChannel, Interval, _rxClock, extend: null, _rxWriter, TimeSpan.FromMinutes(1), CancellationToken.None)
            .Subscribe();

        _loopChannel = new SealedChannel(_server, _peer.PublicKey);
        _loopJobs = Channel.CreateUnbounded<JobRequest>(new UnboundedChannelOptions { SingleReader = true });
        _loopClock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        _loopStop = new CancellationTokenSource();
        _loop = HandWrittenJobLoop.RunAsync(_loopJobs.Reader, _loopChannel, _loopWriter, Interval, _loopClock, _loopStop.Token);

        _rxRealJobs = new Subject<JobRequest>();
        _rxRealSubscription = JobStreamPipeline.WriteJobStream(_rxRealJobs, _rxChannel, Interval, DefaultScheduler.Instance, extend: null, _rxWriter, TimeSpan.FromMinutes(1), CancellationToken.None)
            .Subscribe();
        _loopRealJobs = Channel.CreateUnbounded<JobRequest>(new UnboundedChannelOptions { SingleReader = true });
        _loopReal = HandWrittenJobLoop.RunAsync(_loopRealJobs.Reader, _loopChannel, _loopWriter, Interval, TimeProvider.System, _loopStop.Token);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _rxSubscription.Dispose();
        _rxRealSubscription.Dispose();
        _loopJobs.Writer.Complete();
        _loopRealJobs.Writer.Complete();
        _loopStop.Cancel();
        _ = _loop.ContinueWith(static task => task.Exception, TaskScheduler.Default);
        _ = _loopReal.ContinueWith(static task => task.Exception, TaskScheduler.Default);
        _rxChannel.Dispose();
        _loopChannel.Dispose();
        _server.Dispose();
        _peer.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Messages, Description = "Rx: heartbeat (tick → seal → write)")]
    public long RxHeartbeat()
    {
        for (var i = 0; i < Messages; i++)
        {
            _rxClock.AdvanceBy(Interval);
        }

        return _rxWriter.Count;
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "loop: heartbeat (tick → seal → write)")]
    public long LoopHeartbeat()
    {
        for (var i = 0; i < Messages; i++)
        {
            var expected = _loopWriter.Count + 1;
            _loopClock.Advance(Interval);
            _loopWriter.WaitFor(expected);
        }

        return _loopWriter.Count;
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "Rx: job (publish → Switch-reset → seal → write)")]
    public long RxJob()
    {
        for (var i = 0; i < Messages; i++)
        {
            _rxRealJobs.OnNext(_job);
        }

        return _rxWriter.Count;
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "loop: job (channel → reset ticker → seal → write)")]
    public long LoopJob()
    {
        var expected = _loopWriter.Count + Messages;
        for (var i = 0; i < Messages; i++)
        {
            _loopRealJobs.Writer.TryWrite(_job);
        }

        _loopWriter.WaitFor(expected);
        return _loopWriter.Count;
    }
}
