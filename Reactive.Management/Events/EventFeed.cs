using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Reactive.Management.Diagnostics;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;

namespace Reactive.Management.Events;

/// <summary>
/// The host's events: every job change of the <see cref="JobBoard"/> and every stream that opens or ends, in the
/// <see cref="IEventLog"/>, published in id order to <see cref="Live"/>; <see cref="Since"/> gives a client what it
/// missed and then what comes. With a log in memory the feed records job changes as the board announces them and
/// publishes as it records. With a database (SQLite, PostgreSQL) the job store writes each job change's event in the
/// change's own transaction, the feed records the streams' events, and it publishes what it reads back from the log,
/// woken by the board's changes, its own appends and (PostgreSQL) the other replicas': every replica's events, on
/// every replica, in the order they committed.
/// </summary>
internal sealed class EventFeed : IDisposable
{
    /// <summary>How many published events one client may have waiting before it is dropped.</summary>
    public const int ClientBuffer = 1024;

    private const int PageSize = 500;

    /// <summary>How long changes gather before the next read, after a read that found some (following a log only).</summary>
    private static readonly TimeSpan FollowGather = TimeSpan.FromMilliseconds(10);

    private readonly IEventLog _log;
    private readonly ILogger _logger;
    private readonly Channel<Recording> _recording = Channel.CreateUnbounded<Recording>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Subject<ManagementEvent> _live = new();
    private readonly IDisposable _jobChanges;
    private readonly IDisposable _pruning;
    private readonly Task _recorder;

    // Following a database's log: "look at the log again" as a level the loop takes, set by the board's changes, this
    // feed's own appends and the log's news of other replicas'.
    private readonly Channel<bool> _lookAgain = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly bool _follows;
    private readonly IDisposable _othersAppended;
    private readonly Task _follower;
    private readonly CancellationTokenSource _stopping = new();
    private long _lastPublished;

    public EventFeed(IEventLog log, JobBoard board, IScheduler timers, TimeSpan retention, ILogger<EventFeed> logger)
    {
        _log = log;
        _logger = logger;
        _lastPublished = log.RangeAsync().AsTask().GetAwaiter().GetResult().Newest;
        _follows = log.RecordsJobChanges || log.AppendedElsewhere is not null;
        // Where the store writes job events itself, a change announced by the board is already in the log: look.
        _jobChanges = log.RecordsJobChanges
            ? board.Changes.Subscribe(_ => _lookAgain.Writer.TryWrite(true), _ => { })
            : board.Changes.Subscribe(job => Record(ManagementEvent.From(job)), _ => { });
        _recorder = Task.Run(RecordLoopAsync);
        _othersAppended = log.AppendedElsewhere?.Subscribe(_ => _lookAgain.Writer.TryWrite(true), _ => { }) ?? System.Reactive.Disposables.Disposable.Empty;
        _follower = _follows ? Task.Run(FollowLoopAsync) : Task.CompletedTask;
        // Hourly at most, and at least ten times a retention: an event is kept for its retention, and up to a tenth longer.
        var every = TimeSpan.FromTicks(Math.Min(TimeSpan.FromHours(1).Ticks, Math.Max(TimeSpan.FromSeconds(1).Ticks, retention.Ticks / 10)));
        _pruning = timers.SchedulePeriodic(every, () => _ = PruneAsync(timers.Now - retention));
    }

    /// <summary>Every event once recorded, in id order (hot).</summary>
    public IObservable<ManagementEvent> Live => _live.AsObservable();

    /// <summary>
    /// Records that <paramref name="peer"/>'s stream opened here; completes once the event is in the log (or failed to
    /// be recorded, which is logged). A stream awaits it before it takes jobs: with a database's log a job's events are
    /// written by the job's own transaction, and they must come after the event of the stream the job goes out on.
    /// </summary>
    public Task PeerConnectedAsync(Peer peer, DateTimeOffset at)
    {
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_recording.Writer.TryWrite(new(new ManagementEvent(0, ManagementEventTypes.PeerConnected, at, peer.Id, null, null, null), recorded)))
        {
            // The feed has stopped (the host is stopping): nothing to wait for.
            recorded.TrySetResult();
        }

        return recorded.Task;
    }

    /// <summary>Records that <paramref name="peer"/>'s stream here ended, and why.</summary>
    public void PeerDisconnected(Peer peer, DateTimeOffset at, string reason) =>
        Record(new ManagementEvent(0, ManagementEventTypes.PeerDisconnected, at, peer.Id, null, null, reason));

    /// <summary>Whether events after <paramref name="lastId"/> are all still in the log: false when some were pruned.</summary>
    /// <returns>The answer, and the log's range to tell the client.</returns>
    public async ValueTask<(bool Kept, long? Oldest, long Newest)> CanResumeAfterAsync(long lastId, CancellationToken cancellationToken)
    {
        var (oldest, newest) = await _log.RangeAsync(cancellationToken).ConfigureAwait(false);
        // Nothing after lastId was ever pruned when the oldest kept event is the next one (or none is kept and none came).
        var kept = oldest is { } first ? lastId >= first - 1 : lastId >= newest;
        return (kept, oldest, newest);
    }

    /// <summary>
    /// The events after <paramref name="lastId"/> from the log, then every event as it is published; with no id, only
    /// those published from now. Fails with <see cref="SlowEventClientException"/> when the subscriber lets
    /// <see cref="ClientBuffer"/> published events wait: a slow client is dropped, it never slows recording.
    /// </summary>
    public IObservable<ManagementEvent> Since(long? lastId) => Observable.Create<ManagementEvent>(async (observer, cancellationToken) =>
    {
        var waiting = Channel.CreateBounded<ManagementEvent>(new BoundedChannelOptions(ClientBuffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        // Subscribed before the log is read: an event published meanwhile waits here, and the ids tell the duplicates.
        using var live = Live.Subscribe(
            item =>
            {
                if (!waiting.Writer.TryWrite(item))
                {
                    waiting.Writer.TryComplete(new SlowEventClientException(ClientBuffer));
                }
            },
            error => waiting.Writer.TryComplete(error),
            () => waiting.Writer.TryComplete());
        var last = lastId ?? Volatile.Read(ref _lastPublished);
        if (lastId is not null)
        {
            while (true)
            {
                var page = await _log.ReadAfterAsync(last, PageSize, cancellationToken).ConfigureAwait(false);
                foreach (var item in page)
                {
                    observer.OnNext(item);
                    last = item.Id;
                }

                if (page.Count < PageSize)
                {
                    break;
                }
            }
        }

        await foreach (var item in waiting.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (item.Id > last)
            {
                observer.OnNext(item);
                last = item.Id;
            }
        }

        observer.OnCompleted();
    });

    public void Dispose()
    {
        _jobChanges.Dispose();
        _pruning.Dispose();
        _othersAppended.Dispose();
        _recording.Writer.TryComplete();
        _recorder.GetAwaiter().GetResult();
        // The recorder's last append has asked for a look; the follower takes it (not waiting to gather), then ends.
        _lookAgain.Writer.TryComplete();
        _stopping.Cancel();
        _follower.GetAwaiter().GetResult();
        _stopping.Dispose();
        _live.OnCompleted();
        _live.Dispose();
    }

    private void Record(ManagementEvent item) => _recording.Writer.TryWrite(new(item, null));

    private async Task RecordLoopAsync()
    {
        var group = new List<ManagementEvent>(256);
        var waiting = new List<TaskCompletionSource>();
        while (await _recording.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            waiting.Clear();
            while (group.Count < 256 && _recording.Reader.TryRead(out var item))
            {
                group.Add(item.Event);
                if (item.Recorded is { } recorded)
                {
                    waiting.Add(recorded);
                }
            }

            try
            {
                var recorded = await _log.AppendAsync(group).ConfigureAwait(false);
                if (_follows)
                {
                    _lookAgain.Writer.TryWrite(true);
                }
                else
                {
                    Publish(recorded);
                }
            }
            catch (Exception exception)
            {
                // The jobs are in the store either way; these events are not, and a client resuming will not see them.
                Log.EventsNotRecorded(_logger, group.Count, exception);
            }

            foreach (var recorded in waiting)
            {
                recorded.TrySetResult();
            }
        }
    }

    private async Task FollowLoopAsync()
    {
        while (await _lookAgain.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Taken before the log is read: an append after this point asks again, and is read by the next pass.
            _lookAgain.Reader.TryRead(out _);
            var published = 0;
            try
            {
                IReadOnlyList<ManagementEvent> page;
                do
                {
                    page = await _log.ReadAfterAsync(Volatile.Read(ref _lastPublished), PageSize).ConfigureAwait(false);
                    Publish(page);
                    published += page.Count;
                }
                while (page.Count == PageSize);
            }
            catch (Exception exception)
            {
                Log.EventsNotFollowed(_logger, exception);
            }

            if (published > 0)
            {
                // Busy: let the next changes gather for a moment, so that a read carries many events instead of one
                // read per job change. A pause for throughput, not a behaviour: on real time, so that a host run on
                // virtual time still publishes, and off the timer wheel, whose entries are the streams' and jobs'.
                await Task.Delay(FollowGather, _stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private void Publish(IReadOnlyList<ManagementEvent> events)
    {
        foreach (var item in events)
        {
            Volatile.Write(ref _lastPublished, item.Id);
            _live.OnNext(item);
        }
    }

    /// <summary>An event to append, and who waits for it to be in the log.</summary>
    private readonly record struct Recording(ManagementEvent Event, TaskCompletionSource? Recorded);

    private async Task PruneAsync(DateTimeOffset before)
    {
        try
        {
            await _log.PruneAsync(before).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.EventsNotPruned(_logger, exception);
        }
    }
}

/// <summary>An event client let too many events wait: it is dropped.</summary>
internal sealed class SlowEventClientException(int buffer)
    : Exception($"The event client let {buffer} events wait unread; it was dropped (reconnect with Last-Event-ID to resume).");
