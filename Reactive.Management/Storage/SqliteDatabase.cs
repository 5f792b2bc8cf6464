using Microsoft.Data.Sqlite;

namespace Reactive.Management.Storage;

/// <summary>
/// The embedded SQLite database (one file) that holds peers and jobs: opens connections with the settings
/// that make a committed write durable, and creates the schema on first use.
/// </summary>
internal sealed class SqliteDatabase : IDisposable
{
    private readonly string _connectionString;

    // SQLite has one writer at a time; writers that collide wait in a sleep-and-retry loop (SQLITE_BUSY), which
    // under load costs tens of milliseconds per write. Queuing this process's writes here keeps them at disk speed.
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private string? _lastWriteFailure;

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
    }

    /// <summary>The database file.</summary>
    public string FullPath { get; }

    /// <summary>Opens a connection; dispose it when done (it goes back to the pool).</summary>
    public async ValueTask<SqliteConnection> OpenAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var pragma = connection.CreateCommand();
            // WAL with synchronous=FULL: a commit is on disk when it returns, and readers do not block the writer.
            pragma.CommandText = "PRAGMA synchronous = FULL;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="write"/> on an open connection, one writer of this process at a time.</summary>
    /// <remarks>A failed write is remembered (see <see cref="WriteProblemAsync"/>) until a write succeeds.</remarks>
    public async ValueTask<T> WriteAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            var result = await write(connection, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastWriteFailure, null);
            return result;
        }
        catch (SqliteException exception) when (exception.SqliteErrorCode != SqliteConstraint)
        {
            // A constraint (a duplicate id, say) is the caller's conflict, not a database that cannot write.
            Volatile.Write(ref _lastWriteFailure, exception.Message);
            throw;
        }
        finally
        {
            _writeGate.Release();
        }
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
    public void Dispose() => _writeGate.Dispose();

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

        using var index = connection.CreateCommand();
        index.CommandText = "CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_idempotency_key ON jobs (peer_id, idempotency_key) WHERE idempotency_key IS NOT NULL";
        index.ExecuteNonQuery();
    }
}
