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

    /// <summary>The channel a replica <c>NOTIFY</c>s when it has appended events to the shared event log.</summary>
    public const string EventsChannel = "reactive_management_events";

    /// <summary>
    /// Takes the event lock (a transaction-scoped advisory lock: in memory, let go at commit once the commit is visible),
    /// first in every transaction that may change jobs or append events. Event ids are taken under it, so transactions
    /// commit in the order of their ids. A job change's trigger takes it too; taken first, before any job row, no two
    /// transactions can each hold what the other waits for.
    /// </summary>
    public const string LockEventIds = "SELECT pg_advisory_xact_lock(727275)";

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
                batch.BatchCommands.Add(new NpgsqlBatchCommand(LockEventIds));
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
                        group[i].Completion.TrySetResult(batch.BatchCommands[i + 1].RecordsAffected);
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
            await using var alone = new NpgsqlBatch(connection) { BatchCommands = { new NpgsqlBatchCommand(LockEventIds) } };
            var command = new NpgsqlBatchCommand(pending.Sql);
            pending.Bind(command.Parameters);
            alone.BatchCommands.Add(command);
            await alone.ExecuteNonQueryAsync().ConfigureAwait(false);
            pending.Completion.TrySetResult(command.RecordsAffected);
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

    /// <summary>
    /// Listens on <paramref name="channel"/> until <paramref name="stopping"/>: each notification's payload goes to
    /// <paramref name="notified"/>; after every (re)connect <paramref name="listening"/> runs, since notifications sent
    /// while no connection listened are lost (the caller looks at the state they stand for); a lost connection is told
    /// to <paramref name="lost"/> and tried again a second later.
    /// </summary>
    public async Task ListenAsync(string channel, Action<string> notified, Func<CancellationToken, Task> listening, Action<Exception> lost, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString);
                await connection.OpenAsync(stopping).ConfigureAwait(false);
                connection.Notification += (_, notification) => notified(notification.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                }

                await listening(stopping).ConfigureAwait(false);
                while (true)
                {
                    await connection.WaitAsync(stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or IOException or TimeoutException)
            {
                lost(exception);
                await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>Runs <see cref="LockEventIds"/> in <paramref name="transaction"/> (first, before it changes any job).</summary>
    public static async Task LockEventIdsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockEventIds, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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
        // Several replicas may start at once: the advisory lock makes the CREATEs one at a time. The statements run as one
        // implicit transaction, so the lock is the transaction's, let go at its commit: a session lock let go by a last
        // statement would let the next replica in before these tables are visible to it (a duplicate-type error).
        command.CommandText =
            """
            SELECT pg_advisory_xact_lock(727274);
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
            CREATE TABLE IF NOT EXISTS events (
                id        bigint NOT NULL PRIMARY KEY,
                type      text   NOT NULL,
                at        bigint NOT NULL,
                peer_id   text   NULL,
                job_id    uuid   NULL,
                batch_id  uuid   NULL,
                detail    text   NULL
            );
            CREATE INDEX IF NOT EXISTS events_by_at ON events (at);
            -- Event ids, taken only inside the event lock (LockEventIds): transactions that take ids commit one at a
            -- time in the order they took them, so a reader that has seen id n will never see a smaller id appear.
            CREATE SEQUENCE IF NOT EXISTS event_id_sequence;
            -- A job change's event, in the change's own statement (so its own transaction): a crash keeps both or
            -- neither, and a job created on A and sent by B has its events in that order. A row trigger (no transition
            -- table to build per statement), then one notice per statement (PostgreSQL sends one per transaction). The
            -- lock is taken again here (it is re-entrant) so that a write that skipped it still orders its ids; taking
            -- it first is what keeps two transactions from deadlocking.
            CREATE OR REPLACE FUNCTION record_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock(727275);
                INSERT INTO events (id, type, at, peer_id, job_id, batch_id, detail)
                VALUES (nextval('event_id_sequence'),
                        CASE NEW.status WHEN 'pending' THEN 'job.created' ELSE 'job.' || NEW.status END,
                        COALESCE(NEW.completed_at, NEW.sent_at, NEW.created_at), NEW.peer_id, NEW.id, NEW.batch_id, NEW.failed_reason);
                RETURN NULL;
            END $$;
            CREATE OR REPLACE FUNCTION notify_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('reactive_management_events', '');
                RETURN NULL;
            END $$;
            DROP TRIGGER IF EXISTS jobs_record_created ON jobs;
            DROP TRIGGER IF EXISTS jobs_record_changed ON jobs;
            CREATE OR REPLACE TRIGGER jobs_record_event AFTER INSERT OR UPDATE OF status ON jobs
                FOR EACH ROW EXECUTE FUNCTION record_job_event();
            CREATE OR REPLACE TRIGGER jobs_notify_events AFTER INSERT OR UPDATE OF status ON jobs
                FOR EACH STATEMENT EXECUTE FUNCTION notify_job_events();
            CREATE TABLE IF NOT EXISTS webhook_cursors (
                url            text   NOT NULL PRIMARY KEY,
                last_event_id  bigint NOT NULL
            );
            CREATE TABLE IF NOT EXISTS webhook_failures (
                id          bigserial NOT NULL PRIMARY KEY,
                url         text      NOT NULL,
                event_id    bigint    NOT NULL,
                event_type  text      NOT NULL,
                attempts    integer   NOT NULL,
                last_error  text      NOT NULL,
                failed_at   bigint    NOT NULL
            );
            """;
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
