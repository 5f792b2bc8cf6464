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

/// <summary>The job board over the in-memory store, on virtual time.</summary>
public sealed class JobBoardTests : IDisposable
{
    private static readonly JobTimeouts Timeouts = new(AnswerTimeout: TimeSpan.FromMinutes(10), PendingTimeToLive: TimeSpan.FromHours(24));
    private readonly TestScheduler _clock = new();
    private readonly JobHub _hub = new();
    private readonly InMemoryJobStore _store = new();
    private readonly JobBoard _board;
    private readonly WireGuardKeyPair _peerKeys = WireGuardKeyPair.Generate();
    private readonly WireGuardKeyPair _otherKeys = WireGuardKeyPair.Generate();
    private readonly Peer _peer;
    private readonly Peer _other;

    public JobBoardTests()
    {
        _board = new JobBoard(_store, _hub, _clock, Timeouts);
        _peer = new Peer("peer-a", _peerKeys.PublicKey, "a", _clock.Now);
        _other = new Peer("peer-b", _otherKeys.PublicKey, "b", _clock.Now);
    }

    [Fact]
    public async Task A_job_for_a_connected_peer_is_stored_and_sent_at_once()
    {
        var (channel, received) = await ConnectAsync(_peer);

        var job = await _board.CreateAsync(_peer, new BundleParameters { LogFileCount = 5 });

        Assert.Equal(JobState.Sent, job.State);
        Assert.Equal(job, await _store.FindAsync(job.Id));
        Assert.Equal(job.ToRequest(), Assert.Single(received));
        Assert.Equal(5, received[0].Bundle.LogFileCount);
        Assert.Equal(16, received[0].ID.Length);
        channel.Dispose();
    }

    [Fact]
    public async Task Jobs_for_an_offline_peer_wait_and_go_out_oldest_first_when_it_connects()
    {
        var first = await _board.CreateAsync(_peer, new BundleParameters());
        _clock.AdvanceBy(TimeSpan.FromSeconds(1).Ticks);
        var second = await _board.CreateAsync(_peer, new BundleParameters());
        Assert.Equal(JobState.Pending, first.State);

        var (channel, received) = await ConnectAsync(_peer);

        Assert.Equal([first.ToRequest(), second.ToRequest()], received);
        Assert.Equal(JobState.Sent, (await _board.FindAsync(second.Id))!.State);
        channel.Dispose();
    }

    [Fact]
    public async Task A_peer_that_answers_at_once_finds_its_job_already_stored_as_sent()
    {
        var channel = _hub.CreateOutbox(_peer.Key);
        var outcomes = new List<JobAnswerOutcome>();
        // The answer comes back while the job is being published: nothing may still be waiting to be stored.
        using var subscription = channel.Jobs.Subscribe(request =>
            outcomes.Add(_board.CompleteAsync(_peer.Key, new JobResponse { ID = request.ID, Status = JobStatus.Succeeded }).GetAwaiter().GetResult()));
        _hub.Register(channel);

        var job = await _board.CreateAsync(_peer, new BundleParameters());

        Assert.Equal([JobAnswerOutcome.Completed], outcomes);
        Assert.Equal(JobState.Succeeded, (await _board.FindAsync(job.Id))!.State);
        channel.Dispose();
    }

    [Fact]
    public async Task A_stream_without_room_leaves_jobs_in_the_store_and_takes_them_oldest_first_as_writes_make_room()
    {
        var channel = _hub.CreateOutbox(_peer.Key, capacity: 2);
        var published = new List<JobRequest>();
        using var jobs = channel.Jobs.Subscribe(published.Add);   // a peer that reads nothing: no job is reported written
        _hub.Register(channel);
        Assert.True(await channel.WaitForDeliveryRequestAsync(CancellationToken.None), "a new stream asks for its peer's jobs");

        var created = new List<Job>();
        for (var i = 0; i < 5; i++)
        {
            created.Add(await _board.CreateAsync(_peer, new BundleParameters { LogFileCount = i }));
        }

        Assert.Equal([JobState.Sent, JobState.Sent, JobState.Pending, JobState.Pending, JobState.Pending], created.Select(job => job.State));
        Assert.Equal(2, published.Count);
        Assert.Equal(2, channel.Unwritten);

        Assert.True(channel.IsWaitingForRoom);
        channel.JobWritten();
        Assert.True(channel.WaitForDeliveryRequestAsync(CancellationToken.None).AsTask().IsCompleted, "the write that made room asked for a delivery");
        await _board.DeliverPendingAsync(channel);

        Assert.Equal(created.Take(3).Select(job => job.ToRequest().ID), published.Select(request => request.ID));
        Assert.Equal(JobState.Pending, (await _board.FindAsync(created[3].Id))!.State);
        Assert.Equal(JobState.Pending, (await _board.FindAsync(created[4].Id))!.State);
        channel.Dispose();
    }

    [Fact]
    public async Task A_job_is_written_at_most_once_per_stream()
    {
        var (channel, received) = await ConnectAsync(_peer);
        await _board.CreateAsync(_peer, new BundleParameters());

        await _board.DeliverPendingAsync(channel);

        Assert.Single(received);
        channel.Dispose();
    }

    [Fact]
    public async Task A_job_whose_stream_ended_before_the_answer_goes_out_again_on_the_next_stream_and_counts_once()
    {
        var (firstStream, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        firstStream.Dispose();

        var (secondStream, received) = await ConnectAsync(_peer);
        var answer = Succeeded(job, "upload/1");

        Assert.Equal(job.ToRequest(), Assert.Single(received));
        Assert.Equal(JobAnswerOutcome.Completed, await _board.CompleteAsync(_peer.Key, answer));
        Assert.Equal(JobAnswerOutcome.AlreadyFinished, await _board.CompleteAsync(_peer.Key, answer.Clone()));
        Assert.Equal(JobState.Succeeded, (await _board.FindAsync(job.Id))!.State);
        secondStream.Dispose();
    }

    [Fact]
    public async Task A_successful_answer_finishes_the_job_with_its_upload_key()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        var finished = _board.WhenFinishedAsync(job.Id);

        _clock.AdvanceBy(TimeSpan.FromSeconds(7).Ticks);
        var outcome = await _board.CompleteAsync(_peer.Key, Succeeded(job, "uploads/abc"));

        Assert.Equal(JobAnswerOutcome.Completed, outcome);
        var done = await finished;
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal("uploads/abc", done.UploadKey);
        Assert.Equal(job.SentAt + TimeSpan.FromSeconds(7), done.CompletedAt);
        Assert.Equal(done, await _board.WhenFinishedAsync(job.Id));
        channel.Dispose();
    }

    [Fact]
    public async Task A_failed_answer_keeps_the_reason_cut_at_4096_bytes()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());

        await _board.CompleteAsync(_peer.Key, new JobResponse { ID = JobIds.ToWire(job.Id), Status = JobStatus.Failed, Reason = ByteString.CopyFrom(new string('x', 5000), Encoding.UTF8) });

        var failed = (await _board.FindAsync(job.Id))!;
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Equal(4096, failed.FailedReason!.Length);
        channel.Dispose();
    }

    [Fact]
    public async Task A_succeeded_answer_keeps_the_upload_key_cut_at_4096_bytes()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());

        await _board.CompleteAsync(_peer.Key, Succeeded(job, new string('k', 1_000_000)));

        var succeeded = (await _board.FindAsync(job.Id))!;
        Assert.Equal(JobState.Succeeded, succeeded.State);
        Assert.Equal(4096, succeeded.UploadKey!.Length);
        channel.Dispose();
    }

    [Fact]
    public async Task Answers_that_do_not_fit_a_job_are_refused_and_change_nothing()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        var unsent = await _board.CreateAsync(_other, new BundleParameters());

        Assert.Equal(JobAnswerOutcome.UnknownJob, await _board.CompleteAsync(_peer.Key, new JobResponse { ID = JobIds.ToWire(Guid.NewGuid()) }));
        Assert.Equal(JobAnswerOutcome.UnknownJob, await _board.CompleteAsync(_peer.Key, new JobResponse { ID = ByteString.CopyFromUtf8("short") }));
        Assert.Equal(JobAnswerOutcome.OtherPeersJob, await _board.CompleteAsync(_other.Key, Succeeded(job, "x")));
        Assert.Equal(JobAnswerOutcome.NotSent, await _board.CompleteAsync(_other.Key, Succeeded(unsent, "x")));

        Assert.Equal(JobState.Sent, (await _board.FindAsync(job.Id))!.State);
        Assert.Equal(JobState.Pending, (await _board.FindAsync(unsent.Id))!.State);
        channel.Dispose();
    }

    [Fact]
    public async Task Changes_report_every_state_of_a_job()
    {
        var states = new List<JobState>();
        using var subscription = _board.Changes.Select(job => job.State).Subscribe(states.Add);
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        var (channel, _) = await ConnectAsync(_peer);

        await _board.CompleteAsync(_peer.Key, Succeeded(job, "k"));

        Assert.Equal([JobState.Pending, JobState.Sent, JobState.Succeeded], states);
        channel.Dispose();
    }

    [Fact]
    public async Task A_pending_job_times_out_exactly_at_its_time_to_live()
    {
        var job = await _board.CreateAsync(_peer, new BundleParameters());

        _clock.AdvanceTo((job.CreatedAt + Timeouts.PendingTimeToLive).UtcTicks - 1);
        Assert.Equal(JobState.Pending, (await _board.FindAsync(job.Id))!.State);
        _clock.AdvanceBy(1);

        var expired = (await _board.FindAsync(job.Id))!;
        Assert.Equal(JobState.TimedOut, expired.State);
        Assert.Equal(job.CreatedAt + Timeouts.PendingTimeToLive, expired.CompletedAt);
        Assert.Contains("not delivered", expired.FailedReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sent_job_times_out_exactly_at_its_answer_deadline_counted_from_the_first_send()
    {
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        _clock.AdvanceBy(TimeSpan.FromMinutes(3).Ticks);
        var (first, _) = await ConnectAsync(_peer);
        var sentAt = _clock.Now;
        first.Dispose();
        _clock.AdvanceBy(TimeSpan.FromMinutes(4).Ticks);
        var (second, received) = await ConnectAsync(_peer);
        Assert.Single(received);

        _clock.AdvanceTo((sentAt + Timeouts.AnswerTimeout).UtcTicks - 1);
        Assert.Equal(JobState.Sent, (await _board.FindAsync(job.Id))!.State);
        _clock.AdvanceBy(1);

        var expired = (await _board.FindAsync(job.Id))!;
        Assert.Equal(JobState.TimedOut, expired.State);
        Assert.Equal(sentAt, expired.SentAt);
        Assert.Contains("not answered", expired.FailedReason, StringComparison.Ordinal);
        Assert.Equal(JobAnswerOutcome.AlreadyFinished, await _board.CompleteAsync(_peer.Key, Succeeded(job, "late")));
        second.Dispose();
    }

    [Fact]
    public async Task An_answer_in_time_stops_the_deadline()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        _clock.AdvanceBy(TimeSpan.FromMinutes(9).Ticks);

        await _board.CompleteAsync(_peer.Key, Succeeded(job, "k"));
        _clock.AdvanceBy(TimeSpan.FromDays(2).Ticks);

        Assert.Equal(JobState.Succeeded, (await _board.FindAsync(job.Id))!.State);
        channel.Dispose();
    }

    [Fact]
    public async Task After_a_restart_the_deadlines_of_stored_jobs_are_armed_again()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var sent = await _board.CreateAsync(_peer, new BundleParameters());
        channel.Dispose();
        _board.Dispose();
        _clock.AdvanceBy(TimeSpan.FromMinutes(1).Ticks);
        var pending = await new JobBoard(_store, new JobHub(), _clock, Timeouts).CreateAsync(_other, new BundleParameters());

        // A new board over the same store, as after a restart: no timers until StartAsync.
        using var restarted = new JobBoard(_store, new JobHub(), _clock, Timeouts);
        await restarted.StartAsync();
        _clock.AdvanceTo((sent.SentAt!.Value + Timeouts.AnswerTimeout).UtcTicks);

        Assert.Equal(JobState.TimedOut, (await _store.FindAsync(sent.Id))!.State);
        Assert.Equal(JobState.Pending, (await _store.FindAsync(pending.Id))!.State);
        _clock.AdvanceTo((pending.CreatedAt + Timeouts.PendingTimeToLive).UtcTicks);
        Assert.Equal(JobState.TimedOut, (await _store.FindAsync(pending.Id))!.State);
    }

    [Fact]
    public async Task A_deadline_already_past_at_start_fires_at_once()
    {
        var job = await new JobBoard(_store, new JobHub(), _clock, Timeouts).CreateAsync(_peer, new BundleParameters());
        _clock.AdvanceBy(TimeSpan.FromDays(3).Ticks);
        using var restarted = new JobBoard(_store, new JobHub(), _clock, Timeouts);

        await restarted.StartAsync();
        _clock.AdvanceBy(1);

        Assert.Equal(JobState.TimedOut, (await _store.FindAsync(job.Id))!.State);
    }

    [Fact]
    public async Task Cancelling_finishes_an_unfinished_job_and_its_later_answer_is_ignored()
    {
        var (channel, _) = await ConnectAsync(_peer);
        var job = await _board.CreateAsync(_peer, new BundleParameters());

        var (cancelled, outcome) = await _board.CancelAsync(job.Id);

        Assert.Equal(JobCancelOutcome.Cancelled, outcome);
        Assert.Equal(JobState.Cancelled, cancelled!.State);
        Assert.Equal(JobAnswerOutcome.AlreadyFinished, await _board.CompleteAsync(_peer.Key, Succeeded(job, "k")));
        Assert.Equal(JobCancelOutcome.AlreadyFinished, (await _board.CancelAsync(job.Id)).Outcome);
        Assert.Equal(JobCancelOutcome.NotFound, (await _board.CancelAsync(Guid.NewGuid())).Outcome);
        channel.Dispose();
    }

    [Fact]
    public async Task A_cancelled_job_is_not_delivered_when_the_peer_connects()
    {
        var job = await _board.CreateAsync(_peer, new BundleParameters());
        await _board.CancelAsync(job.Id);

        var (channel, received) = await ConnectAsync(_peer);

        Assert.Empty(received);
        channel.Dispose();
    }

    [Fact]
    public async Task Waiting_for_an_unknown_job_fails()
    {
        await Assert.ThrowsAsync<KeyNotFoundException>(() => _board.WhenFinishedAsync(Guid.NewGuid()));
    }

    [Fact]
    public async Task A_second_stream_of_the_same_peer_completes_the_first()
    {
        var (first, _) = await ConnectAsync(_peer);
        var firstCompleted = false;
        using var subscription = first.Jobs.Subscribe(_ => { }, () => firstCompleted = true);

        var (second, received) = await ConnectAsync(_peer);
        first.Dispose();
        await _board.CreateAsync(_peer, new BundleParameters());

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

    private static JobResponse Succeeded(Job job, string uploadKey) =>
        new() { ID = JobIds.ToWire(job.Id), Status = JobStatus.Succeeded, Bundle = new BundleResult { UploadKey = uploadKey } };

    private async Task<(PeerOutbox Channel, List<JobRequest> Received)> ConnectAsync(Peer peer)
    {
        var channel = _hub.CreateOutbox(peer.Key);
        var received = new List<JobRequest>();
        channel.Jobs.Subscribe(request =>
        {
            received.Add(request);
            channel.JobWritten();
        });
        _hub.Register(channel);
        await _board.DeliverPendingAsync(channel);
        return (channel, received);
    }
}
