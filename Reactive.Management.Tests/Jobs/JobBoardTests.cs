using System.Reactive.Linq;
using System.Text;
using Google.Protobuf;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Xunit;

namespace Reactive.Management.Tests.Jobs;

public sealed class JobBoardTests : IDisposable
{
    private readonly TestScheduler _clock = new();
    private readonly JobHub _hub = new();
    private readonly JobBoard _board;
    private readonly WireGuardKeyPair _peerKeys = WireGuardKeyPair.Generate();
    private readonly WireGuardKeyPair _otherKeys = WireGuardKeyPair.Generate();
    private readonly Peer _peer;
    private readonly Peer _other;

    public JobBoardTests()
    {
        _board = new JobBoard(_hub, _clock);
        _peer = new Peer("peer-a", _peerKeys.PublicKey, "a", _clock.Now);
        _other = new Peer("peer-b", _otherKeys.PublicKey, "b", _clock.Now);
    }

    [Fact]
    public void A_job_for_a_connected_peer_is_sent_at_once()
    {
        var (channel, received) = Connect(_peer);

        var job = _board.Create(_peer, new BundleParameters { LogFileCount = 5 });

        Assert.Equal(JobState.Sent, job.State);
        Assert.Equal(job.ToRequest(), Assert.Single(received));
        Assert.Equal(5, received[0].Bundle.LogFileCount);
        Assert.Equal(16, received[0].ID.Length);
        channel.Dispose();
    }

    [Fact]
    public void Jobs_for_an_offline_peer_wait_and_go_out_oldest_first_when_it_connects()
    {
        var first = _board.Create(_peer, new BundleParameters());
        _clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        var second = _board.Create(_peer, new BundleParameters());
        Assert.Equal(JobState.Pending, _board.Find(first.Id)!.State);

        var (channel, received) = Connect(_peer);

        Assert.Equal([first.ToRequest(), second.ToRequest()], received);
        Assert.Equal(JobState.Sent, _board.Find(second.Id)!.State);
        channel.Dispose();
    }

    [Fact]
    public void A_job_is_not_sent_twice_on_the_same_stream()
    {
        var (channel, received) = Connect(_peer);
        _board.Create(_peer, new BundleParameters());

        _board.DeliverPending(channel);

        Assert.Single(received);
        channel.Dispose();
    }

    [Fact]
    public void A_job_whose_stream_ended_before_the_answer_is_sent_again_on_the_next_stream()
    {
        var (firstStream, _) = Connect(_peer);
        var job = _board.Create(_peer, new BundleParameters());

        firstStream.Dispose();
        _board.Requeue(firstStream);
        Assert.Equal(JobState.Pending, _board.Find(job.Id)!.State);
        var (secondStream, received) = Connect(_peer);

        Assert.Equal(job.ToRequest(), Assert.Single(received));
        secondStream.Dispose();
    }

    [Fact]
    public async Task A_successful_answer_completes_the_job_with_its_upload_key()
    {
        var (channel, _) = Connect(_peer);
        var job = _board.Create(_peer, new BundleParameters());
        var completion = _board.WhenCompleted(job.Id);

        _clock.AdvanceBy(TimeSpan.FromSeconds(7).Ticks);
        var outcome = _board.Complete(_peer.Key, new JobResponse { ID = JobIds.ToWire(job.Id), Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = "uploads/abc" } });

        Assert.Equal(JobAnswerOutcome.Completed, outcome);
        var completed = await completion;
        Assert.Equal(JobState.Succeeded, completed.State);
        Assert.Equal("uploads/abc", completed.UploadKey);
        Assert.Equal(job.CreatedAt + TimeSpan.FromSeconds(7), completed.CompletedAt);
        channel.Dispose();
    }

    [Fact]
    public void A_failed_answer_keeps_the_reason_cut_at_4096_bytes()
    {
        var (channel, _) = Connect(_peer);
        var job = _board.Create(_peer, new BundleParameters());

        _board.Complete(_peer.Key, new JobResponse { ID = JobIds.ToWire(job.Id), Status = JobStatus.Failed, Reason = ByteString.CopyFrom(new string('x', 5000), Encoding.UTF8) });

        var failed = _board.Find(job.Id)!;
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal(JobBoard.MaxReasonBytes, failed.FailedReason!.Length);
        channel.Dispose();
    }

    [Fact]
    public void Answers_that_do_not_fit_a_job_are_refused_and_change_nothing()
    {
        var (channel, _) = Connect(_peer);
        var job = _board.Create(_peer, new BundleParameters());
        var unsent = _board.Create(_other, new BundleParameters());
        var answer = new JobResponse { ID = JobIds.ToWire(job.Id), Status = JobStatus.Succeeded };

        Assert.Equal(JobAnswerOutcome.UnknownJob, _board.Complete(_peer.Key, new JobResponse { ID = JobIds.ToWire(Guid.NewGuid()) }));
        Assert.Equal(JobAnswerOutcome.UnknownJob, _board.Complete(_peer.Key, new JobResponse { ID = ByteString.CopyFromUtf8("short") }));
        Assert.Equal(JobAnswerOutcome.OtherPeersJob, _board.Complete(_other.Key, answer));
        Assert.Equal(JobAnswerOutcome.NotSent, _board.Complete(_other.Key, new JobResponse { ID = JobIds.ToWire(unsent.Id), Status = JobStatus.Succeeded }));
        Assert.Equal(JobState.Sent, _board.Find(job.Id)!.State);

        Assert.Equal(JobAnswerOutcome.Completed, _board.Complete(_peer.Key, answer));
        Assert.Equal(JobAnswerOutcome.AlreadyCompleted, _board.Complete(_peer.Key, answer.Clone()));
        channel.Dispose();
    }

    [Fact]
    public void Changes_report_every_state_of_a_job()
    {
        var states = new List<JobState>();
        using var subscription = _board.Changes.Select(job => job.State).Subscribe(states.Add);
        var job = _board.Create(_peer, new BundleParameters());
        var (channel, _) = Connect(_peer);

        _board.Complete(_peer.Key, new JobResponse { ID = JobIds.ToWire(job.Id), Status = JobStatus.Succeeded });

        Assert.Equal([JobState.Pending, JobState.Sent, JobState.Succeeded], states);
        channel.Dispose();
    }

    [Fact]
    public void A_second_stream_of_the_same_peer_completes_the_first()
    {
        var (first, _) = Connect(_peer);
        var firstCompleted = false;
        using var subscription = first.Jobs.Subscribe(_ => { }, () => firstCompleted = true);

        var (second, received) = Connect(_peer);
        first.Dispose();
        _board.Create(_peer, new BundleParameters());

        Assert.True(firstCompleted);
        Assert.True(first.IsReplaced);
        Assert.True(_hub.IsConnected(_peer.Key), "disposing the replaced stream must not unregister the newer one");
        Assert.Single(received);
        second.Dispose();
        Assert.False(_hub.IsConnected(_peer.Key));
    }

    public void Dispose()
    {
        _board.Dispose();
        _peerKeys.Dispose();
        _otherKeys.Dispose();
    }

    private (PeerJobChannel Channel, List<JobRequest> Received) Connect(Peer peer)
    {
        var channel = _hub.CreateChannel(peer.Key);
        var received = new List<JobRequest>();
        channel.Jobs.Subscribe(received.Add);
        _hub.Register(channel);
        _board.DeliverPending(channel);
        return (channel, received);
    }
}
