using System.Reactive;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Npgsql;
using Reactive.Management.Events;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>
/// The event log every replica shares in PostgreSQL. Ids come from a sequence, taken only under the event lock
/// (<see cref="PostgresDatabase.LockEventIds"/>) that every writer holds to its commit, so writes commit in id order
/// across replicas: a reader that has seen id n never sees a smaller id appear (ids skipped only by a rolled-back
/// write). Job changes' events are written by a trigger on the jobs table; this log appends the streams'. Each write
/// <c>NOTIFY</c>s the other replicas, which follow the log.
/// </summary>
internal sealed class PostgresEventLog(PostgresDatabase database, TimeSpan lookEvery, IScheduler scheduler, Action<Exception> notificationsLost) : IEventLog
{
    // Under the event lock: the next ids, in the events' order (sorted first, then numbered).
    private const string Append =
        """
        INSERT INTO events (id, type, at, peer_id, job_id, batch_id, detail)
        SELECT nextval('event_id_sequence'), type, at, peer_id, job_id, batch_id, detail
        FROM (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::uuid[], $5::uuid[], $6::text[])
                  WITH ORDINALITY AS e(type, at, peer_id, job_id, batch_id, detail, n)
              ORDER BY n) AS ordered
        RETURNING id
        """;

    /// <summary>
    /// Ticks when another replica may have appended: at each notification, after each (re)connect of the listening
    /// connection (notifications sent meanwhile are lost), and every <c>lookEvery</c> whatever happens.
    /// </summary>
    public IObservable<Unit>? AppendedElsewhere { get; } = Observable.Merge(
            Observable.Create<Unit>((observer, stopping) => database.ListenAsync(
                PostgresDatabase.EventsChannel,
                _ => observer.OnNext(Unit.Default),
                _ =>
                {
                    observer.OnNext(Unit.Default);
                    return Task.CompletedTask;
                },
                notificationsLost,
                stopping)),
            Observable.Interval(lookEvery, scheduler).Select(_ => Unit.Default))
        .Synchronize();

    /// <summary>True: the jobs table's triggers write each change's event (PostgresDatabase's schema).</summary>
    public bool RecordsJobChanges => true;

    public async ValueTask<IReadOnlyList<ManagementEvent>> AppendAsync(IReadOnlyList<ManagementEvent> events, CancellationToken cancellationToken = default)
    {
        if (events.Count == 0)
        {
            return [];
        }

        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // One implicit transaction: the lock, the events, and the notice the others hear once they are committed.
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand(PostgresDatabase.LockEventIds));
        var insert = new NpgsqlBatchCommand(Append);
        insert.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. events.Select(item => item.Type)] });
        insert.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. events.Select(item => ToTicks(item.At))] });
        insert.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. events.Select(item => item.PeerId)] });
        insert.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = [.. events.Select(item => item.JobId)] });
        insert.Parameters.Add(new NpgsqlParameter<Guid?[]> { TypedValue = [.. events.Select(item => item.BatchId)] });
        insert.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = [.. events.Select(item => item.Detail)] });
        batch.BatchCommands.Add(insert);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{PostgresDatabase.EventsChannel}', '')"));
        var ids = new List<long>(events.Count);
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            // Past the lock's (empty) row to the insert's ids.
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ids.Add(reader.GetInt64(0));
            }
        }

        // The ids are consecutive (taken under the lock), given in the events' order (RETURNING's own order is not promised).
        var first = ids.Min();
        return [.. events.Select((item, index) => item with { Id = first + index })];
    }

    public async ValueTask<IReadOnlyList<ManagementEvent>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync($"SELECT {StoredRows.EventColumns} FROM events WHERE id > $1 ORDER BY id LIMIT $2", cancellationToken).ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterId });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await StoredRows.ReadAllAsync(command, StoredRows.ReadEvent, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<(long? Oldest, long Newest)> RangeAsync(CancellationToken cancellationToken = default)
    {
        // The newest id given: the largest kept, or, once every event is pruned, the sequence's last.
        await using var command = await database.CommandAsync(
            "SELECT (SELECT min(id) FROM events), COALESCE((SELECT max(id) FROM events), (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_id_sequence))",
            cancellationToken).ConfigureAwait(false);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.GetInt64(1));
    }

    public async ValueTask PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default) =>
        await database.WriteAsync(
            // A prefix of ids (IEventLog.PruneAsync says why).
            "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events WHERE at < $1)",
            parameters => parameters.Add(new NpgsqlParameter<long> { TypedValue = ToTicks(before) }),
            cancellationToken).ConfigureAwait(false);
}
