using Reactive.Management.Events;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>Webhook cursors and failures in the SQLite file, next to the event log they read.</summary>
internal sealed class SqliteWebhookStore(SqliteDatabase database) : IWebhookStore
{
    public async ValueTask<long?> CursorAsync(string url, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT last_event_id FROM webhook_cursors WHERE url = $url";
        command.Parameters.AddWithValue("$url", url);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long cursor ? cursor : null;
    }

    public async ValueTask SettleAsync(string url, long eventId, WebhookFailure? failure, CancellationToken cancellationToken = default) =>
        await database.WriteAsync(
            async (connection, ct) =>
            {
                var cursor = database.Prepared(connection, "INSERT INTO webhook_cursors (url, last_event_id) VALUES ($url, $id) ON CONFLICT (url) DO UPDATE SET last_event_id = excluded.last_event_id");
                cursor.Parameters.AddWithValue("$url", url);
                cursor.Parameters.AddWithValue("$id", eventId);
                await cursor.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                if (failure is not null)
                {
                    var failed = database.Prepared(connection, "INSERT INTO webhook_failures (url, event_id, event_type, attempts, last_error, failed_at) VALUES ($url, $id, $type, $attempts, $error, $at)");
                    failed.Parameters.AddWithValue("$url", failure.Url);
                    failed.Parameters.AddWithValue("$id", failure.EventId);
                    failed.Parameters.AddWithValue("$type", failure.EventType);
                    failed.Parameters.AddWithValue("$attempts", failure.Attempts);
                    failed.Parameters.AddWithValue("$error", failure.LastError);
                    failed.Parameters.AddWithValue("$at", ToTicks(failure.FailedAt));
                    await failed.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return 0;
            },
            cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<WebhookFailure>> FailuresAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT url, event_id, event_type, attempts, last_error, failed_at FROM webhook_failures ORDER BY id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        return await StoredRows.ReadAllAsync(
            command,
            reader => new WebhookFailure(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4), FromTicks(reader.GetInt64(5))),
            cancellationToken).ConfigureAwait(false);
    }
}
