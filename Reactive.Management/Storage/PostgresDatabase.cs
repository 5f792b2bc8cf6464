using System.Threading.Channels;
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

    /// <summary>The most statements one batch holds; more wait for the next batch.</summary>
    public const int MaxWritesPerBatch = 256;

    /// <summary>How many batches may be on their way to the server at once (each on its own connection).</summary>
    private const int BatchesInFlight = 4;

    private readonly Lazy<Task> _schema;

    // Every write of this process's job store is one statement: they queue here, and each loop sends all that wait
    // (up to MaxWritesPerBatch) in one round trip, one transaction and one WAL flush, completing each caller after the
    // commit. A transaction per job would cost a round trip and a flush each.
    private readonly Channel<PendingStatement> _writes = Channel.CreateUnbounded<PendingStatement>();
    private readonly Task[] _batching;
    private long _batches;

    /// <summary>Connects with <paramref name="connectionString"/> (an Npgsql connection string).</summary>
    public PostgresDatabase(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ConnectionString = connectionString;
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // The same few statements run thousands of times a second: prepared on the server once per connection, each
            // run skips PostgreSQL's parse and plan. An explicit Max Auto Prepare in the connection string wins.
            builder.ConnectionStringBuilder.MaxAutoPrepare = 32;
        }

        DataSource = builder.Build();
        _schema = new Lazy<Task>(CreateSchemaAsync);
        _batching = [.. Enumerable.Range(0, BatchesInFlight).Select(_ => Task.Run(BatchLoopAsync))];
    }

    /// <summary>Batches committed so far (each holds one or more writes).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>
    /// Runs one statement (<paramref name="sql"/>, its parameters set by <paramref name="bind"/>) in the next batch, and
    /// returns the rows it affected once the batch's transaction has committed.
    /// </summary>
    /// <remarks>
    /// The statement must not fail in normal use (write conflicts as <c>ON CONFLICT DO NOTHING</c> and conditions, told
    /// by the rows affected): a statement that fails anyway takes its batch's transaction with it, and then each statement
    /// of that batch runs again alone, so that only its own caller hears the error. A write cancelled while it waits
    /// does not run.
    /// </remarks>
    public Task<int> WriteAsync(string sql, Action<NpgsqlParameterCollection> bind, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sql);
        ArgumentNullException.ThrowIfNull(bind);
        var pending = new PendingStatement(sql, bind, cancellationToken);
        ObjectDisposedException.ThrowIf(!_writes.Writer.TryWrite(pending), this);
        return pending.Completion.Task;
    }

    private async Task BatchLoopAsync()
    {
        var group = new List<PendingStatement>(MaxWritesPerBatch);
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < MaxWritesPerBatch && _writes.Reader.TryRead(out var pending))
            {
                if (pending.CancellationToken.IsCancellationRequested)
                {
                    pending.Completion.TrySetCanceled(pending.CancellationToken);
                }
                else
                {
                    group.Add(pending);
                }
            }

            if (group.Count == 0)
            {
                continue;
            }

            try
            {
                await EnsureSchemaAsync().ConfigureAwait(false);
                await using var connection = await DataSource.OpenConnectionAsync().ConfigureAwait(false);
                // A batch without a transaction of its own runs in one implicit transaction: all its statements or none.
                await using var batch = new NpgsqlBatch(connection);
                foreach (var pending in group)
                {
                    var command = new NpgsqlBatchCommand(pending.Sql);
                    pending.Bind(command.Parameters);
                    batch.BatchCommands.Add(command);
                }

                try
                {
                    await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
                    Interlocked.Increment(ref _batches);
                    for (var i = 0; i < group.Count; i++)
                    {
                        group[i].Completion.TrySetResult(batch.BatchCommands[i].RecordsAffected);
                    }
                }
                catch (PostgresException) when (group.Count > 1)
                {
                    // One statement failed and nothing of the batch committed: each runs again alone.
                    foreach (var pending in group)
                    {
                        await RunAloneAsync(connection, pending).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception exception)
            {
                // The server is unreachable or the statement failed alone: its callers hear why.
                foreach (var pending in group)
                {
                    pending.Completion.TrySetException(exception);
                }
            }
        }
    }

    private static async Task RunAloneAsync(NpgsqlConnection connection, PendingStatement pending)
    {
        try
        {
            await using var command = new NpgsqlCommand(pending.Sql, connection);
            pending.Bind(command.Parameters);
            pending.Completion.TrySetResult(await command.ExecuteNonQueryAsync().ConfigureAwait(false));
        }
        catch (PostgresException exception)
        {
            pending.Completion.TrySetException(exception);
        }
    }

    /// <summary>A statement waiting for its batch, and its caller's task.</summary>
    private sealed record PendingStatement(string Sql, Action<NpgsqlParameterCollection> Bind, CancellationToken CancellationToken)
    {
        public TaskCompletionSource<int> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
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

    /// <summary>Takes no more writes, commits those queued, then closes the pool.</summary>
    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await Task.WhenAll(_batching).ConfigureAwait(false);
        await DataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

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
            ALTER TABLE peers ADD COLUMN IF NOT EXISTS remote_jobs_allowed boolean NULL;
            ALTER TABLE jobs ADD COLUMN IF NOT EXISTS created_by text NULL;
            ALTER TABLE jobs ADD COLUMN IF NOT EXISTS cancelled_by text NULL;
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
