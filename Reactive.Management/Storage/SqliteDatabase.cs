using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Reactive.Management.Storage;

/// <summary>
/// The embedded SQLite database (one file) that holds peers and jobs: opens connections with the settings
/// that make a committed write durable, and creates the schema on first use.
/// </summary>
internal sealed class SqliteDatabase : IDisposable, IAsyncDisposable
{
    /// <summary>The most writes one commit holds; more wait for the next commit.</summary>
    public const int MaxWritesPerCommit = 256;

    private readonly string _connectionString;

    // SQLite has one writer at a time, and each commit costs an fsync (synchronous=FULL). So this process's writes queue
    // here and one loop commits them in groups: every write waiting when a commit starts goes into it (up to
    // MaxWritesPerCommit), each in its own savepoint, and each caller's task completes after that commit returns.
    private readonly Channel<PendingWrite> _writes = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _committing;
    private string? _lastWriteFailure;
    private long _commits;

    // The writer connection's commands, prepared once and run again with new parameters (SQLite parses and plans a
    // statement on prepare: at thousands of writes a second that is most of a write's cost). Only the commit loop uses
    // them, one write at a time.
    private readonly Dictionary<string, SqliteCommand> _prepared = new(StringComparer.Ordinal);

    /// <summary>SQLITE_CONSTRAINT: a write refused by the schema (unique id or key), not by the database.</summary>
    internal const int SqliteConstraint = 19;

    /// <summary>Opens (or creates) the database file at <paramref name="path"/> and its schema.</summary>
    /// <exception cref="InvalidOperationException">The file cannot be opened as a database (the message names it).</exception>
    public SqliteDatabase(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        FullPath = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(FullPath)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = FullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Seconds a statement waits for another writer's lock before failing with SQLITE_BUSY.
            DefaultTimeout = 30,
        }.ToString();
        try
        {
            CreateSchema();
        }
        catch (SqliteException exception)
        {
            // SQLite's own words never name the file.
            throw new InvalidOperationException($"The SQLite database '{FullPath}' cannot be used: {exception.Message}", exception);
        }

        _committing = Task.Run(CommitLoopAsync);
    }

    /// <summary>Commits made so far (each holds one or more writes).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>The database file.</summary>
    public string FullPath { get; }

    /// <summary>Opens a connection for reading; dispose it when done (it goes back to the pool).</summary>
    public async ValueTask<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Opens the commit loop's connection: WAL with synchronous=FULL, so that a commit is on disk when it returns.</summary>
    private async ValueTask<SqliteConnection> OpenWriterAsync()
    {
        var connection = await OpenAsync().ConfigureAwait(false);
        try
        {
            using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA synchronous = FULL;";
            await pragma.ExecuteNonQueryAsync().ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> in the next group commit and returns its result once that commit is on disk.
    /// </summary>
    /// <remarks>
    /// The write runs in a savepoint of the group's transaction: if it throws, its own changes are rolled back and the
    /// exception is its caller's alone; the others commit. A write cancelled while it waits does not run. A failed
    /// write is remembered (see <see cref="WriteProblemAsync"/>) until a write succeeds; a constraint violation (a
    /// duplicate id or key) is the caller's conflict and is not.
    /// </remarks>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> write, CancellationToken cancellationToken = default) =>
        Enqueue(new PendingWrite<T>(write ?? throw new ArgumentNullException(nameof(write)), cancellationToken));

    /// <summary>
    /// As <see cref="WriteAsync{T}"/>, for a write that runs exactly one SQL statement: it needs no savepoint of its own,
    /// because SQLite undoes a failing statement alone and leaves the transaction as it was (two fewer statements a write).
    /// </summary>
    public Task<T> WriteOneStatementAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> write, CancellationToken cancellationToken = default) =>
        Enqueue(new PendingWrite<T>(write ?? throw new ArgumentNullException(nameof(write)), cancellationToken) { IsOneStatement = true });

    private Task<T> Enqueue<T>(PendingWrite<T> pending)
    {
        ObjectDisposedException.ThrowIf(!_writes.Writer.TryWrite(pending), this);
        return pending.Completion;
    }

    /// <summary>
    /// A command on the writer's <paramref name="connection"/> with <paramref name="sql"/>, prepared on its first run and
    /// kept for the next writes; its parameters are cleared. Only for use inside a <see cref="WriteAsync{T}"/> delegate,
    /// and not to be disposed by the caller.
    /// </summary>
    public SqliteCommand Prepared(SqliteConnection connection, string sql)
    {
        if (!_prepared.TryGetValue(sql, out var command) || !ReferenceEquals(command.Connection, connection))
        {
            command?.Dispose();
            command = connection.CreateCommand();
            command.CommandText = sql;
            _prepared[sql] = command;
        }

        command.Parameters.Clear();
        return command;
    }

    private void ForgetPrepared()
    {
        foreach (var command in _prepared.Values)
        {
            command.Dispose();
        }

        _prepared.Clear();
    }

    private async Task CommitLoopAsync()
    {
        var group = new List<PendingWrite>(MaxWritesPerCommit);
        SqliteConnection? connection = null;
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < MaxWritesPerCommit && _writes.Reader.TryRead(out var pending))
            {
                if (!pending.TryCancel())
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
                connection ??= await OpenWriterAsync().ConfigureAwait(false);
                await ExecuteAsync(connection, "BEGIN IMMEDIATE").ConfigureAwait(false);
                foreach (var pending in group)
                {
                    if (pending.IsOneStatement)
                    {
                        try
                        {
                            await pending.RunAsync(connection).ConfigureAwait(false);
                        }
                        catch (Exception exception) when (exception is not SqliteException || IsStatementError(exception))
                        {
                            // SQLite undid the statement alone (statement errors leave the transaction as it was).
                            pending.Failed = exception;
                        }

                        continue;
                    }

                    await ExecuteAsync(connection, "SAVEPOINT write").ConfigureAwait(false);
                    try
                    {
                        await pending.RunAsync(connection).ConfigureAwait(false);
                        await ExecuteAsync(connection, "RELEASE write").ConfigureAwait(false);
                    }
                    catch (Exception exception) when (exception is not SqliteException || IsStatementError(exception))
                    {
                        // This write's changes go; the group's stay. Its caller gets its exception after the commit.
                        pending.Failed = exception;
                        await ExecuteAsync(connection, "ROLLBACK TO write; RELEASE write").ConfigureAwait(false);
                    }
                }

                await ExecuteAsync(connection, "COMMIT").ConfigureAwait(false);
                Interlocked.Increment(ref _commits);
                foreach (var pending in group)
                {
                    if (pending.Failed is SqliteException { SqliteErrorCode: not SqliteConstraint } failed)
                    {
                        Volatile.Write(ref _lastWriteFailure, failed.Message);
                    }
                    else if (pending.Failed is null)
                    {
                        Volatile.Write(ref _lastWriteFailure, null);
                    }

                    pending.Complete();
                }
            }
            catch (Exception exception)
            {
                // The transaction could not begin or commit (a read-only file, a full disk, I/O): no write of the group
                // is on disk, and every caller hears why. The next group starts on a fresh connection.
                if (exception is SqliteException { SqliteErrorCode: not SqliteConstraint } failed)
                {
                    Volatile.Write(ref _lastWriteFailure, failed.Message);
                }

                foreach (var pending in group)
                {
                    pending.Fail(exception);
                }

                if (connection is not null)
                {
                    // Never hand a connection with a transaction still open back to the pool: every reader would fail.
                    try
                    {
                        await ExecuteAsync(connection, "ROLLBACK").ConfigureAwait(false);
                    }
                    catch (SqliteException)
                    {
                        // No transaction was open, or the file is gone: either way the connection is dropped below.
                    }

                    SqliteConnection.ClearPool(connection);
                    ForgetPrepared();
                    await connection.DisposeAsync().ConfigureAwait(false);
                    connection = null;
                }
            }
        }

        ForgetPrepared();
        if (connection is not null)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A failure of one statement (the write's own), which its savepoint undoes; anything else ends the group.</summary>
    private static bool IsStatementError(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: SqliteConstraint or 1 /* SQLITE_ERROR */ or 20 /* SQLITE_MISMATCH */ or 25 /* SQLITE_RANGE */ };

    private async Task ExecuteAsync(SqliteConnection connection, string sql) =>
        await Prepared(connection, sql).ExecuteNonQueryAsync().ConfigureAwait(false);

    /// <summary>A write waiting for its group commit, and its caller's task.</summary>
    private abstract class PendingWrite
    {
        public Exception? Failed { get; set; }

        public bool IsOneStatement { get; init; }

        public abstract bool TryCancel();

        public abstract Task RunAsync(SqliteConnection connection);

        public abstract void Complete();

        public abstract void Fail(Exception exception);
    }

    private sealed class PendingWrite<T>(Func<SqliteConnection, CancellationToken, Task<T>> write, CancellationToken cancellationToken) : PendingWrite
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Completion => _completion.Task;

        public override bool TryCancel() => cancellationToken.IsCancellationRequested && _completion.TrySetCanceled(cancellationToken);

        // Once its group has begun, a write runs to the end: its caller's cancellation would leave the group half done.
        public override async Task RunAsync(SqliteConnection connection) => _result = await write(connection, CancellationToken.None).ConfigureAwait(false);

        public override void Complete()
        {
            if (Failed is null)
            {
                _completion.TrySetResult(_result!);
            }
            else
            {
                _completion.TrySetException(Failed);
            }
        }

        public override void Fail(Exception exception) => _completion.TrySetException(exception);
    }

    /// <summary>
    /// Why this database cannot take writes now (its file opened read-only, or the last write failed), naming the file
    /// and SQLite's error; null when it can.
    /// </summary>
    public async ValueTask<string?> WriteProblemAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            // SQLite opens a file it may not write read-only, silently: ask it.
            if (SQLitePCL.raw.sqlite3_db_readonly(connection.Handle, "main") == 1)
            {
                return $"The SQLite database '{FullPath}' is read-only (SQLite opened it without write access); no job can be created or changed.";
            }
        }
        catch (SqliteException exception)
        {
            return $"The SQLite database '{FullPath}' cannot be opened: {exception.Message}";
        }

        return Volatile.Read(ref _lastWriteFailure) is { } failure ? $"The last write to the SQLite database '{FullPath}' failed: {failure}" : null;
    }

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Takes no more writes, commits those queued, and closes the writer's connection before it returns.</summary>
    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _committing.ConfigureAwait(false);
    }

    private void CreateSchema()
    {
        using var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText =
            """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS peers (
                id          TEXT    NOT NULL PRIMARY KEY,
                wg_pub_key  TEXT    NOT NULL UNIQUE,
                name        TEXT    NOT NULL,
                created_at  INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS jobs (
                id            TEXT    NOT NULL PRIMARY KEY,
                peer_id       TEXT    NOT NULL,
                peer_key      TEXT    NOT NULL,
                workload      BLOB    NOT NULL,
                status        TEXT    NOT NULL,
                created_at    INTEGER NOT NULL,
                sent_at       INTEGER NULL,
                completed_at  INTEGER NULL,
                upload_key    TEXT    NULL,
                failed_reason TEXT    NULL
            );
            CREATE INDEX IF NOT EXISTS jobs_by_peer_key_status ON jobs (peer_key, status, created_at);
            CREATE INDEX IF NOT EXISTS jobs_by_peer_id ON jobs (peer_id, created_at);
            CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
            """;
        command.ExecuteNonQuery();

        // Added after the first release: files made before it get the column here.
        using var columns = connection.CreateCommand();
        columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'idempotency_key'";
        if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            using var add = connection.CreateCommand();
            add.CommandText = "ALTER TABLE jobs ADD COLUMN idempotency_key TEXT NULL";
            add.ExecuteNonQuery();
        }

        columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('peers') WHERE name = 'remote_jobs_allowed'";
        if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            using var add = connection.CreateCommand();
            add.CommandText = "ALTER TABLE peers ADD COLUMN remote_jobs_allowed INTEGER NULL";
            add.ExecuteNonQuery();
        }

        foreach (var column in new[] { "created_by", "cancelled_by" })
        {
            columns.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = '{column}'";
            if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                using var add = connection.CreateCommand();
                add.CommandText = $"ALTER TABLE jobs ADD COLUMN {column} TEXT NULL";
                add.ExecuteNonQuery();
            }
        }

        columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('jobs') WHERE name = 'batch_id'";
        if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            using var add = connection.CreateCommand();
            add.CommandText = "ALTER TABLE jobs ADD COLUMN batch_id TEXT NULL";
            add.ExecuteNonQuery();
        }

        using var index = connection.CreateCommand();
        index.CommandText =
            """
            CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
            CREATE TABLE IF NOT EXISTS batches (
                id            TEXT    NOT NULL PRIMARY KEY,
                created_at    INTEGER NOT NULL,
                job_count     INTEGER NOT NULL,
                max_in_flight INTEGER NULL,
                cancelled_at  INTEGER NULL
            );
            CREATE INDEX IF NOT EXISTS jobs_by_batch_status ON jobs (batch_id, status) WHERE batch_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS jobs_by_batch ON jobs (batch_id, created_at, id) WHERE batch_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at, id);
            CREATE TABLE IF NOT EXISTS events (
                id       INTEGER PRIMARY KEY AUTOINCREMENT,
                type     TEXT    NOT NULL,
                at       INTEGER NOT NULL,
                peer_id  TEXT    NULL,
                job_id   TEXT    NULL,
                batch_id TEXT    NULL,
                detail   TEXT    NULL
            );
            CREATE INDEX IF NOT EXISTS events_by_at ON events (at);
            -- A job's change and its event in one statement, so in one transaction: a crash keeps both or neither, and
            -- events are in the order the changes committed. (The same event as ManagementEvent.From(job).)
            CREATE TRIGGER IF NOT EXISTS jobs_record_created AFTER INSERT ON jobs BEGIN
                INSERT INTO events (type, at, peer_id, job_id, batch_id, detail)
                VALUES (CASE NEW.status WHEN 'pending' THEN 'job.created' ELSE 'job.' || NEW.status END,
                        COALESCE(NEW.completed_at, NEW.sent_at, NEW.created_at), NEW.peer_id, NEW.id, NEW.batch_id, NEW.failed_reason);
            END;
            CREATE TRIGGER IF NOT EXISTS jobs_record_changed AFTER UPDATE OF status ON jobs BEGIN
                INSERT INTO events (type, at, peer_id, job_id, batch_id, detail)
                VALUES (CASE NEW.status WHEN 'pending' THEN 'job.created' ELSE 'job.' || NEW.status END,
                        COALESCE(NEW.completed_at, NEW.sent_at, NEW.created_at), NEW.peer_id, NEW.id, NEW.batch_id, NEW.failed_reason);
            END;
            CREATE TABLE IF NOT EXISTS webhook_cursors (
                url           TEXT    NOT NULL PRIMARY KEY,
                last_event_id INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS webhook_failures (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                url        TEXT    NOT NULL,
                event_id   INTEGER NOT NULL,
                event_type TEXT    NOT NULL,
                attempts   INTEGER NOT NULL,
                last_error TEXT    NOT NULL,
                failed_at  INTEGER NOT NULL
            );
            """;
        index.ExecuteNonQuery();
    }
}
