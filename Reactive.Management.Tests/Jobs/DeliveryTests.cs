using System.Collections.Concurrent;
using Microsoft.Reactive.Testing;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Jobs;

/// <summary>
/// A stream's delivery loop (<see cref="JobBoard.DeliverWhileOpenAsync"/>) against writes that make room at the worst
/// moment: no unfinished job may be left in the store while its peer's stream has room. The stall these tests were
/// written for (issue 12): the loop listened for "room freed" only after its first pass, so a write that made room in
/// between fired into nothing and the stream stayed up on heartbeats with its peer's jobs stuck in the store.
/// Runs alone: its writer thread spins for the worst instant, which would steal a core from timing-sensitive tests.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class DeliveryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Every moment the loop touches the store, in turn, is the moment a write makes room: a store that completes at
    /// once (as SQLite does) and a write that completes inside its call, at the k-th call for every k.
    /// </summary>
    [Fact]
    public async Task A_write_that_makes_room_at_any_store_call_of_a_pass_never_strands_a_job()
    {
        for (var freeRoomAtCall = 0; freeRoomAtCall < 40; freeRoomAtCall++)
        {
            using var peerKeys = WireGuardKeyPair.Generate();
            var hub = new JobHub();
            var store = new HookedJobStore();
            using var board = new JobBoard(store, hub, new TestScheduler());
            var peer = new Peer("peer", peerKeys.PublicKey, "peer", DateTimeOffset.UnixEpoch);
            for (var i = 0; i < 7; i++)
            {
                await board.CreateAsync(peer, new BundleParameters { LogFileCount = i });
            }

            using var outbox = new FakePeerReading(hub.CreateOutbox(peer.Key, capacity: 2));
            var call = 0;
            store.BeforeEachCall = () =>
            {
                if (call++ == freeRoomAtCall)
                {
                    outbox.WriteAllUnwritten();
                }
            };
            hub.Register(outbox.Channel);
            var delivering = board.DeliverWhileOpenAsync(outbox.Channel);

            await outbox.ReadUntilAsync(() => outbox.Published.Count == 7, $"all 7 jobs written when room was made at store call {freeRoomAtCall}");

            Assert.Equal(7, outbox.Published.Distinct().Count());
            outbox.Channel.Dispose();
            await delivering;
        }
    }

    /// <summary>
    /// Randomized, with a fixed seed: streams open on a peer with waiting jobs (some sent on an earlier stream), with a
    /// random room; a second thread writes their jobs in random bursts, often the instant the stream starts waiting for
    /// room; meanwhile jobs are created and answered, and a newer stream replaces the old one. On every stream, every job
    /// unfinished once things settle has been written on that stream.
    /// </summary>
    [Fact]
    public async Task Every_unfinished_job_is_written_on_every_new_stream_under_random_interleavings()
    {
        var random = new Random(20261127);
        for (var round = 0; round < 150; round++)
        {
            using var peerKeys = WireGuardKeyPair.Generate();
            var hub = new JobHub();
            var store = new HookedJobStore();
            using var board = new JobBoard(store, hub, new TestScheduler());
            var peer = new Peer("peer", peerKeys.PublicKey, "peer", DateTimeOffset.UnixEpoch);
            for (var i = random.Next(0, 60); i > 0; i--)
            {
                await board.CreateAsync(peer, new BundleParameters());
            }

            (FakePeerReading Outbox, Task Delivering)? previous = null;
            for (var stream = random.Next(1, 4); stream > 0; stream--)
            {
                using var outbox = new FakePeerReading(hub.CreateOutbox(peer.Key, capacity: random.Next(1, 9)));
                var seed = random.Next();
                // A newer stream of the peer replaces the older one, whose loop then ends.
                hub.Register(outbox.Channel);
                if (previous is var (replaced, replacedDelivering))
                {
                    Assert.True(replaced.Channel.IsReplaced);
                    await replacedDelivering.WaitAsync(Patience);
                }

                // The peer reads from the start, as a real one does: writes complete on another thread while the first
                // pass runs.
                using var writing = outbox.WriteInRandomBurstsOnAnotherThread(seed);
                var delivering = board.DeliverWhileOpenAsync(outbox.Channel);
                // Meanwhile: new jobs, and answers to some of those that went out.
                for (var i = random.Next(0, 20); i > 0; i--)
                {
                    await board.CreateAsync(peer, new BundleParameters());
                    var published = outbox.Published.ToArray();
                    if (random.Next(3) == 0 && published.Length > 0)
                    {
                        var answered = published[random.Next(published.Length)];
                        await board.CompleteAsync(peer.Key, new JobResponse { ID = answered.ID, Status = JobStatus.Succeeded });
                    }
                }

                await outbox.ReadUntilAsync(
                    () => store.UnfinishedIds(peer.Key).All(outbox.HasPublished),
                    $"round {round}, {stream} stream(s) to go (room {outbox.Channel.Capacity}): every unfinished job written on the new stream");

                previous = (outbox, delivering);
            }

            previous!.Value.Outbox.Channel.Dispose();
            await previous.Value.Delivering.WaitAsync(Patience);
        }
    }

    /// <summary>A peer's side of one channel: what was published to it, and writes that complete when the test says.</summary>
    private sealed class FakePeerReading : IDisposable
    {
        private readonly ConcurrentQueue<JobRequest> _unwritten = new();
        private readonly ConcurrentDictionary<Google.Protobuf.ByteString, bool> _published = new();
        private readonly IDisposable _subscription;

        public FakePeerReading(PeerOutbox channel)
        {
            Channel = channel;
            _subscription = channel.Jobs.Subscribe(job =>
            {
                Published.Enqueue(job);
                _published.TryAdd(job.ID, true);
                _unwritten.Enqueue(job);
            });
        }

        public PeerOutbox Channel { get; }

        public ConcurrentQueue<JobRequest> Published { get; } = new();

        public bool HasPublished(Guid id) => _published.ContainsKey(JobIds.ToWire(id));

        /// <summary>Completes every write waiting now, in order.</summary>
        public void WriteAllUnwritten()
        {
            while (_unwritten.TryDequeue(out _))
            {
                Channel.JobWritten();
            }
        }

        /// <summary>Reads (completes writes) on this thread until <paramref name="condition"/> holds.</summary>
        public async Task ReadUntilAsync(Func<bool> condition, string what)
        {
            using var deadline = new CancellationTokenSource(Patience);
            while (!condition())
            {
                WriteAllUnwritten();
                try
                {
                    await Task.Delay(1, deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"Still waiting for: {what}; the stream holds {Channel.Unwritten} unwritten jobs, waiting for room: {Channel.IsWaitingForRoom}.");
                }
            }
        }

        /// <summary>
        /// Another thread completes writes in random bursts; half of the time it waits for the instant the stream starts
        /// waiting for room and makes room right then.
        /// </summary>
        public IDisposable WriteInRandomBurstsOnAnotherThread(int seed)
        {
            var stop = new CancellationTokenSource();
            var thread = new Thread(() =>
            {
                var random = new Random(seed);
                while (!stop.IsCancellationRequested)
                {
                    if (random.Next(2) == 0)
                    {
                        var spins = 0;
                        while (!Channel.IsWaitingForRoom && !stop.IsCancellationRequested && spins++ < 100_000)
                        {
                            Thread.SpinWait(1);
                        }
                    }

                    for (var burst = random.Next(1, 4); burst > 0 && _unwritten.TryDequeue(out _); burst--)
                    {
                        Channel.JobWritten();
                    }

                    Thread.Yield();
                }
            })
            { IsBackground = true };
            thread.Start();
            return new ThreadStop(stop, thread);
        }

        public void Dispose() => _subscription.Dispose();

        private sealed class ThreadStop(CancellationTokenSource stop, Thread thread) : IDisposable
        {
            public void Dispose()
            {
                stop.Cancel();
                thread.Join();
                stop.Dispose();
            }
        }
    }

    /// <summary>The in-memory store (every call completes at once, like SQLite's), with a hook before each call.</summary>
    private sealed class HookedJobStore : IJobStore
    {
        private readonly InMemoryJobStore _inner = new();

        public Action? BeforeEachCall { get; set; }

        public IEnumerable<Guid> UnfinishedIds(WireGuardPublicKey peer) =>
            _inner.ListUnfinishedAsync(peer).AsTask().GetAwaiter().GetResult().Select(job => job.Id);

        public ValueTask AddAsync(Job job, CancellationToken cancellationToken = default) => Hook(() => _inner.AddAsync(job, cancellationToken));

        public ValueTask<Job> AddOrFindByIdempotencyKeyAsync(Job job, CancellationToken cancellationToken = default) =>
            Hook(() => _inner.AddOrFindByIdempotencyKeyAsync(job, cancellationToken));

        public ValueTask<Job?> FindAsync(Guid id, CancellationToken cancellationToken = default) => Hook(() => _inner.FindAsync(id, cancellationToken));

        public ValueTask<bool> TryUpdateAsync(Job updated, IReadOnlyCollection<JobState> expectedStates, CancellationToken cancellationToken = default) =>
            Hook(() => _inner.TryUpdateAsync(updated, expectedStates, cancellationToken));

        public ValueTask<IReadOnlyList<Job>> ListUnfinishedAsync(WireGuardPublicKey? peer, CancellationToken cancellationToken = default) =>
            Hook(() => _inner.ListUnfinishedAsync(peer, cancellationToken));

        public ValueTask<IReadOnlyList<Guid>> ListUnfinishedIdsAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default) =>
            Hook(() => ((IJobStore)_inner).ListUnfinishedIdsAsync(peer, cancellationToken));

        public ValueTask<(IReadOnlyList<Job> Page, int Total)> ListByPeerAsync(string peerId, int offset, int limit, CancellationToken cancellationToken = default) =>
            Hook(() => _inner.ListByPeerAsync(peerId, offset, limit, cancellationToken));

        private T Hook<T>(Func<T> call)
        {
            BeforeEachCall?.Invoke();
            return call();
        }
    }
}
