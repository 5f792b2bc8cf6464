using System.Reactive;

namespace Reactive.Management.Events;

/// <summary>Where events are kept for the clients that reconnect: in order, each with a new, larger id.</summary>
internal interface IEventLog
{
    /// <summary>
    /// Null when only this process appends (its events are published as it records them); otherwise ticks whenever
    /// others may have appended, and the feed follows the log (it publishes what it reads, in id order).
    /// </summary>
    IObservable<Unit>? AppendedElsewhere { get; }

    /// <summary>
    /// True when the job store writes each job change's event into this log in the change's own transaction (a trigger
    /// on the jobs table: SQLite, PostgreSQL): a crash keeps both or neither, and the log's order is the order the
    /// changes committed. The feed then records only the streams' events itself and publishes what it reads back.
    /// </summary>
    bool RecordsJobChanges { get; }

    /// <summary>Records <paramref name="events"/> in order (durably, when the log is) and returns them with their ids.</summary>
    ValueTask<IReadOnlyList<ManagementEvent>> AppendAsync(IReadOnlyList<ManagementEvent> events, CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="limit"/> events with ids above <paramref name="afterId"/>, in order.</summary>
    ValueTask<IReadOnlyList<ManagementEvent>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// The oldest id still kept (null when none is) and the newest id ever given (0 before the first event).
    /// </summary>
    ValueTask<(long? Oldest, long Newest)> RangeAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Forgets the events that happened before <paramref name="before"/>, and every event with a smaller id: what is kept
    /// is always every id after the oldest kept one. An event's time comes from the clock of the replica that made it, so
    /// a larger id can carry an older time; pruning by time alone would leave a hole that a client resuming before it
    /// would skip without being told (the 410 is decided from the oldest id kept).
    /// </summary>
    ValueTask PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default);
}

/// <summary>Events in memory: kept while the process runs (the memory store's log).</summary>
internal sealed class InMemoryEventLog : IEventLog
{
    private readonly Lock _gate = new();
    private readonly List<ManagementEvent> _events = [];
    private long _newest;

    public IObservable<Unit>? AppendedElsewhere => null;

    /// <summary>False: the feed records job changes here as the board announces them.</summary>
    public bool RecordsJobChanges => false;

    public ValueTask<IReadOnlyList<ManagementEvent>> AppendAsync(IReadOnlyList<ManagementEvent> events, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var recorded = events.Select(item => item with { Id = ++_newest }).ToList();
            _events.AddRange(recorded);
            return ValueTask.FromResult<IReadOnlyList<ManagementEvent>>(recorded);
        }
    }

    public ValueTask<IReadOnlyList<ManagementEvent>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<ManagementEvent>>([.. _events.Where(item => item.Id > afterId).Take(limit)]);
        }
    }

    public ValueTask<(long? Oldest, long Newest)> RangeAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<(long?, long)>((_events.Count == 0 ? null : _events[0].Id, _newest));
        }
    }

    public ValueTask PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _events.RemoveRange(0, _events.FindLastIndex(item => item.At < before) + 1);
        }

        return ValueTask.CompletedTask;
    }
}
