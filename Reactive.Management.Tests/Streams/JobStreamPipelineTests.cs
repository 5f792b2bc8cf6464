using System.Reactive.Linq;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Protocol;
using Reactive.Management.Streams;
using Xunit;
using static Reactive.Management.Tests.TestSupport.VirtualTime;

namespace Reactive.Management.Tests.Streams;

public sealed class JobStreamPipelineTests : ReactiveTest, IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);
    private readonly WireGuardKeyPair _server = WireGuardKeyPair.Generate();
    private readonly WireGuardKeyPair _peer = WireGuardKeyPair.Generate();
    private readonly SealedChannel _serverSide;
    private readonly SealedChannel _peerSide;

    public JobStreamPipelineTests()
    {
        _serverSide = new SealedChannel(_server, _peer.PublicKey);
        _peerSide = new SealedChannel(_peer, _server.PublicKey);
    }

    [Fact]
    public void The_peer_receives_encrypted_heartbeats_in_silence_and_a_job_resets_them()
    {
        var scheduler = new TestScheduler();
        var job = new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()), Bundle = new BundleParameters { LogFileCount = 3 } };
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(45), job));

        var results = scheduler.Run(() => JobStreamPipeline.Outgoing(jobs, _serverSide, Interval, scheduler), disposeAtSeconds: 100);

        var received = results.Messages.Select(m => (m.Time, Request: Open(m.Value.Value))).ToList();
        Assert.Equal([Seconds(30), Seconds(45), Seconds(75)], received.Select(r => r.Time));
        Assert.True(received[0].Request.IsHeartbeat());
        Assert.Equal(job, received[1].Request);
        Assert.True(received[2].Request.IsHeartbeat());
        Assert.All(results.Messages, m => Assert.Equal(_server.PublicKey.ToString(), m.Value.Value.WgPubKey));
    }

    [Fact]
    public void An_application_operator_sees_every_plaintext_request_before_encryption()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnNext(Seconds(10), new JobRequest { ID = JobIds.ToWire(Guid.NewGuid()) }));
        var audited = new List<(long Time, bool Heartbeat)>();

        scheduler.Run(
            () => JobStreamPipeline.Outgoing(jobs, _serverSide, Interval, scheduler, requests => requests.Do(r => audited.Add((scheduler.Clock, r.IsHeartbeat())))),
            disposeAtSeconds: 45);

        Assert.Equal([(Seconds(10), false), (Seconds(40), true)], audited);
    }

    [Fact]
    public void An_application_operator_can_drop_requests()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable<JobRequest>();

        var results = scheduler.Run(
            () => JobStreamPipeline.Outgoing(jobs, _serverSide, Interval, scheduler, requests => requests.Where(r => !r.IsHeartbeat())),
            disposeAtSeconds: 100);

        Assert.Empty(results.Messages);
    }

    [Fact]
    public void When_the_jobs_complete_the_stream_completes()
    {
        var scheduler = new TestScheduler();
        var jobs = scheduler.CreateHotObservable(OnCompleted<JobRequest>(Seconds(50)));

        var results = scheduler.Run(() => JobStreamPipeline.Outgoing(jobs, _serverSide, Interval, scheduler), disposeAtSeconds: 100);

        Assert.Equal([Seconds(30), Seconds(50)], results.Messages.Select(m => m.Time));
        Assert.Equal(System.Reactive.NotificationKind.OnCompleted, results.Messages[^1].Value.Kind);
        jobs.Subscriptions.AssertEqual(Subscribe(0, Seconds(50)));
    }

    public void Dispose()
    {
        _serverSide.Dispose();
        _peerSide.Dispose();
        _server.Dispose();
        _peer.Dispose();
    }

    private JobRequest Open(EncryptedMessage message)
    {
        Assert.True(_peerSide.TryOpen(message, JobRequest.Parser, out var request));
        return request;
    }
}
