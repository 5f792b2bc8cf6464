using Npgsql;

namespace Reactive.Management.Storage;

/// <summary>
/// The shared PostgreSQL database of several management replicas: peers, jobs, and which replica holds each peer's
/// Job stream. Creates the schema on first use.
/// </summary>
internal sealed class PostgresDatabase : IAsyncDisposable, IDisposable
{
    /// <summary>The channel replicas <c>NOTIFY</c> and <c>LISTEN</c> on when a peer has new work.</summary>
    public const string JobsChannel = "reactive_management_jobs";

    private readonly Lazy<Task> _schema;

    /// <summary>Connects with <paramref name="connectionString"/> (an Npgsql connection string).</summary>
    public PostgresDatabase(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ConnectionString = connectionString;
        DataSource = NpgsqlDataSource.Create(connectionString);
        _schema = new Lazy<Task>(CreateSchemaAsync);
    }

    /// <summary>The connection string, for the listening connection.</summary>
    public string ConnectionString { get; }

    /// <summary>The pooled connections.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>A command on a new pooled connection that is closed with the command's reader or execution.</summary>
    public async ValueTask<NpgsqlCommand> CommandAsync(string sql, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        return DataSource.CreateCommand(sql);
    }

    /// <summary>Waits for the schema, before a connection is opened directly (for a transaction).</summary>
    public Task EnsureSchemaAsync(CancellationToken cancellationToken = default) => _schema.Value.WaitAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => DataSource.DisposeAsync();

    /// <inheritdoc />
    public void Dispose() => DataSource.Dispose();

    private async Task CreateSchemaAsync()
    {
        await using var connection = await DataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        // Several replicas may start at once: the advisory lock makes the CREATEs one at a time.
        command.CommandText =
            """
            SELECT pg_advisory_lock(727274);
            CREATE TABLE IF NOT EXISTS peers (
                id          text   NOT NULL PRIMARY KEY,
                wg_pub_key  text   NOT NULL UNIQUE,
                name        text   NOT NULL,
                created_at  bigint NOT NULL
            );
            CREATE TABLE IF NOT EXISTS jobs (
                id            uuid   NOT NULL PRIMARY KEY,
                seq           bigserial,
                peer_id       text   NOT NULL,
                peer_key      text   NOT NULL,
                workload      bytea  NOT NULL,
                status        text   NOT NULL,
                created_at    bigint NOT NULL,
                sent_at       bigint NULL,
                completed_at  bigint NULL,
                upload_key    text   NULL,
                failed_reason text   NULL
            );
            CREATE INDEX IF NOT EXISTS jobs_unfinished_by_peer ON jobs (peer_key, created_at, seq) WHERE status IN ('pending', 'sent');
            CREATE INDEX IF NOT EXISTS jobs_by_peer_id ON jobs (peer_id, created_at, seq);
            ALTER TABLE jobs ADD COLUMN IF NOT EXISTS idempotency_key text NULL;
            CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
            ALTER TABLE jobs ADD COLUMN IF NOT EXISTS batch_id uuid NULL;
            CREATE TABLE IF NOT EXISTS batches (
                id            uuid    NOT NULL PRIMARY KEY,
                created_at    bigint  NOT NULL,
                job_count     integer NOT NULL,
                max_in_flight integer NULL,
                cancelled_at  bigint  NULL
            );
            CREATE INDEX IF NOT EXISTS jobs_by_batch_status ON jobs (batch_id, status) WHERE batch_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs (batch_id, created_at, id) WHERE batch_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at, id);
            CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at, id);
            CREATE TABLE IF NOT EXISTS stream_owners (
                peer_key  text   NOT NULL PRIMARY KEY,
                replica   text   NOT NULL,
                stream    uuid   NOT NULL,
                since     bigint NOT NULL,
                renewed   bigint NOT NULL
            );
            SELECT pg_advisory_unlock(727274);
            """;
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
