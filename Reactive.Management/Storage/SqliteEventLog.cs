using Microsoft.Data.Sqlite;
using Reactive.Management.Events;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>Events in the SQLite file: kept across restarts for their retention, ids never reused (AUTOINCREMENT).</summary>
internal sealed class SqliteEventLog(SqliteDatabase database) : IEventLog
{
    /// <summary>Only this host writes its file.</summary>
    public IObservable<System.Reactive.Unit>? AppendedElsewhere => null;

    /// <summary>True: the jobs table's triggers write each change's event (SqliteDatabase's schema).</summary>
    public bool RecordsJobChanges => true;

    public async ValueTask<IReadOnlyList<ManagementEvent>> AppendAsync(IReadOnlyList<ManagementEvent> events, CancellationToken cancellationToken = default)
    {
        return await database.WriteAsync<IReadOnlyList<ManagementEvent>>(
            async (connection, ct) =>
            {
                var recorded = new List<ManagementEvent>(events.Count);
                var insert = database.Prepared(connection, "INSERT INTO events (type, at, peer_id, job_id, batch_id, detail) VALUES ($type, $at, $peer_id, $job_id, $batch_id, $detail) RETURNING id");
                foreach (var item in events)
                {
                    insert.Parameters.Clear();
                    insert.Parameters.AddWithValue("$type", item.Type);
                    insert.Parameters.AddWithValue("$at", ToTicks(item.At));
                    insert.Parameters.AddWithValue("$peer_id", OrNull(item.PeerId));
                    insert.Parameters.AddWithValue("$job_id", OrNull(item.JobId?.ToString()));
                    insert.Parameters.AddWithValue("$batch_id", OrNull(item.BatchId?.ToString()));
                    insert.Parameters.AddWithValue("$detail", OrNull(item.Detail));
                    var id = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                    recorded.Add(item with { Id = id });
                }

                return recorded;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<ManagementEvent>> ReadAfterAsync(long afterId, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {StoredRows.EventColumns} FROM events WHERE id > $after ORDER BY id LIMIT $limit";
        command.Parameters.AddWithValue("$after", afterId);
        command.Parameters.AddWithValue("$limit", limit);
        return await StoredRows.ReadAllAsync(command, StoredRows.ReadEvent, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<(long? Oldest, long Newest)> RangeAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // sqlite_sequence keeps the largest id ever given, also once every event is pruned.
        command.CommandText = "SELECT (SELECT MIN(id) FROM events), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.GetInt64(1));
    }

    public async ValueTask PruneAsync(DateTimeOffset before, CancellationToken cancellationToken = default) =>
        await database.WriteOneStatementAsync(
            async (connection, ct) =>
            {
                // A prefix of ids (IEventLog.PruneAsync says why).
                var command = database.Prepared(connection, "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events WHERE at < $before)");
                command.Parameters.AddWithValue("$before", ToTicks(before));
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
}
