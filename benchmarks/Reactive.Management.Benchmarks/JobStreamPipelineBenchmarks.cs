using System.Reactive.Concurrency;
using System.Reactive.Subjects;
using BenchmarkDotNet.Attributes;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Streams;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// One Job stream's outgoing path, per message: merge with the heartbeat, Switch-reset, seal with the
/// precomputed key, serialize, hand to the (null) gRPC writer one write at a time.
/// </summary>
/// <remarks>
/// Heartbeats are driven by a virtual-time scheduler, so the figure is the pipeline's own CPU per heartbeat
/// without the OS timer; jobs go through a subject, as the job board publishes them.
/// </remarks>
[MemoryDiagnoser]
public class JobStreamPipelineBenchmarks
{
    private const int MessagesPerInvoke = 1_000;
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly NullStreamWriter<EncryptedMessage> _writer = new();
    private WireGuardKeyPair _server = null!;
    private WireGuardKeyPair _peer = null!;
    private SealedChannel _channel = null!;
    private Subject<JobRequest> _jobs = null!;
    private HistoricalScheduler _clock = null!;
    private IDisposable _subscription = null!;
    private JobRequest _job = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = WireGuardKeyPair.Generate();
        _peer = WireGuardKeyPair.Generate();
        _channel = new SealedChannel(_server, _peer.PublicKey);
        _jobs = new Subject<JobRequest>();
        _clock = new HistoricalScheduler(DateTimeOffset.UnixEpoch);
        _job = new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()), Bundle = new BundleParameters { BundleFor = true, BundleForTime = 2, LogFileCount = 10 } };
        _subscription = JobStreamPipeline.Outgoing(_jobs, _channel, Interval, _clock)
            .WriteTo(_writer, CancellationToken.None)
            .Subscribe();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _subscription.Dispose();
        _channel.Dispose();
        _server.Dispose();
        _peer.Dispose();
    }

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke, Description = "heartbeat: timer tick → seal → write")]
    public long Heartbeat()
    {
        for (var i = 0; i < MessagesPerInvoke; i++)
        {
            _clock.AdvanceBy(Interval);
        }

        return _writer.Count;
    }

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke, Description = "job: publish → Switch-reset → seal → write")]
    public long Job()
    {
        for (var i = 0; i < MessagesPerInvoke; i++)
        {
            _jobs.OnNext(_job);
        }

        return _writer.Count;
    }
}
