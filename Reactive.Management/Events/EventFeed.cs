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
/// The host's events: every job change of the <see cref="JobBoard"/> and every stream that opens or ends is recorded in
/// the <see cref="IEventLog"/> by one loop (so ids follow the order of recording) and then published, in that order, to
/// <see cref="Live"/>; <see cref="Since"/> gives a client what it missed and then what comes.
/// </summary>
internal sealed class EventFeed : IDisposable
{
    /// <summary>How many published events one client may have waiting before it is dropped.</summary>
    public const int ClientBuffer = 1024;

    private const int PageSize = 500;

    private readonly IEventLog _log;
    private readonly ILogger _logger;
    private readonly Channel<ManagementEvent> _recording = Channel.CreateUnbounded<ManagementEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Subject<ManagementEvent> _live = new();
    private readonly IDisposable _jobChanges;
    private readonly IDisposable _pruning;
    private readonly Task _recorder;
    private long _lastPublished;

    public EventFeed(IEventLog log, JobBoard board, IScheduler timers, TimeSpan retention, ILogger<EventFeed> logger)
    {
        _log = log;
        _logger = logger;
        _lastPublished = log.RangeAsync().AsTask().GetAwaiter().GetResult().Newest;
        _jobChanges = board.Changes.Subscribe(job => Record(ManagementEvent.From(job)), _ => { });
        _recorder = Task.Run(RecordLoopAsync);
        // Hourly at most, and at least ten times a retention: an event is kept for its retention, and up to a tenth longer.
        var every = TimeSpan.FromTicks(Math.Min(TimeSpan.FromHours(1).Ticks, Math.Max(TimeSpan.FromSeconds(1).Ticks, retention.Ticks / 10)));
        _pruning = timers.SchedulePeriodic(every, () => _ = PruneAsync(timers.Now - retention));
    }

    /// <summary>Every event once recorded, in id order (hot).</summary>
    public IObservable<ManagementEvent> Live => _live.AsObservable();

    /// <summary>Records that <paramref name="peer"/>'s stream opened here.</summary>
    public void PeerConnected(Peer peer, DateTimeOffset at) =>
        Record(new ManagementEvent(0, ManagementEventTypes.PeerConnected, at, peer.Id, null, null, null));

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
        _recording.Writer.TryComplete();
        _recorder.GetAwaiter().GetResult();
        _live.OnCompleted();
        _live.Dispose();
    }

    private void Record(ManagementEvent item) => _recording.Writer.TryWrite(item);

    private async Task RecordLoopAsync()
    {
        var group = new List<ManagementEvent>(256);
        while (await _recording.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < 256 && _recording.Reader.TryRead(out var item))
            {
                group.Add(item);
            }

            try
            {
                foreach (var recorded in await _log.AppendAsync(group).ConfigureAwait(false))
                {
                    Volatile.Write(ref _lastPublished, recorded.Id);
                    _live.OnNext(recorded);
                }
            }
            catch (Exception exception)
            {
                // The jobs are in the store either way; these events are not, and a client resuming will not see them.
                Log.EventsNotRecorded(_logger, group.Count, exception);
            }
        }
    }

    private async Task PruneAsync(DateTimeOffset before)
    {
        try
        {
            await _log.PruneAsync(before).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.EventsNotRecorded(_logger, 0, exception);
        }
    }
}

/// <summary>An event client let too many events wait: it is dropped.</summary>
internal sealed class SlowEventClientException(int buffer)
    : Exception($"The event client let {buffer} events wait unread; it was dropped (reconnect with Last-Event-ID to resume).");
