using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Reactive.Management.Events;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>
/// Webhook cursors and failures in PostgreSQL, next to the shared event log. One replica at a time sends to a webhook:
/// its turn is a session advisory lock, which PostgreSQL lets go when the replica's connection ends (a crash too), and
/// the others try for it every <c>tryEvery</c>.
/// </summary>
internal sealed class PostgresWebhookStore(PostgresDatabase database, TimeSpan tryEvery, IScheduler scheduler) : IWebhookStore
{
    public async ValueTask<IAsyncDisposable> TakeTurnAsync(string url, CancellationToken cancellationToken = default)
    {
        await database.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        var key = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("webhook " + url)), 0);
        while (true)
        {
            // Its own connection, outside the pool: the lock lives exactly as long as this connection.
            var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false }.ConnectionString);
            try
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                await using (var take = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection))
                {
                    take.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
                    if (await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
                    {
                        return connection;
                    }
                }
            }
            catch (NpgsqlException)
            {
                // Not reachable now: try again below, like a turn held elsewhere.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            await Observable.Timer(tryEvery, scheduler).ToTask(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<long?> CursorAsync(string url, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync("SELECT last_event_id FROM webhook_cursors WHERE url = $1", cancellationToken).ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = url });
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long cursor ? cursor : null;
    }

    public async ValueTask SettleAsync(string url, long eventId, WebhookFailure? failure, CancellationToken cancellationToken = default)
    {
        // Never backwards: a replica that lost its turn without knowing it may still settle an older event.
        const string MoveCursor = "INSERT INTO webhook_cursors (url, last_event_id) VALUES ($1, $2) ON CONFLICT (url) DO UPDATE SET last_event_id = GREATEST(webhook_cursors.last_event_id, excluded.last_event_id)";
        // A failure and the cursor past it in one statement: both or neither.
        await database.WriteAsync(
            failure is null
                ? MoveCursor
                : "WITH failed AS (INSERT INTO webhook_failures (url, event_id, event_type, attempts, last_error, failed_at) VALUES ($1, $2, $3, $4, $5, $6)) " + MoveCursor,
            parameters =>
            {
                parameters.Add(new NpgsqlParameter<string> { TypedValue = url });
                parameters.Add(new NpgsqlParameter<long> { TypedValue = eventId });
                if (failure is not null)
                {
                    parameters.Add(new NpgsqlParameter<string> { TypedValue = failure.EventType });
                    parameters.Add(new NpgsqlParameter<int> { TypedValue = failure.Attempts });
                    parameters.Add(new NpgsqlParameter<string> { TypedValue = failure.LastError });
                    parameters.Add(new NpgsqlParameter<long> { TypedValue = ToTicks(failure.FailedAt) });
                }
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<WebhookFailure>> FailuresAsync(int limit, CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync(
            "SELECT url, event_id, event_type, attempts, last_error, failed_at FROM webhook_failures ORDER BY id DESC LIMIT $1",
            cancellationToken).ConfigureAwait(false);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        return await StoredRows.ReadAllAsync(
            command,
            reader => new WebhookFailure(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4), FromTicks(reader.GetInt64(5))),
            cancellationToken).ConfigureAwait(false);
    }
}
