using Microsoft.Data.Sqlite;
using Reactive.Management.Storage;
using Xunit;

namespace Reactive.Management.Tests.Storage;

/// <summary>The SQLite writer's group commit: writes share commits, and a write's task completes only once it is on disk.</summary>
public sealed class SqliteGroupCommitTests : IAsyncLifetime, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("reactive-management-group-commit-").FullName;
    private SqliteDatabase _database = null!;

    public Task InitializeAsync()
    {
        _database = new SqliteDatabase(Path.Combine(_folder, "management.db"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _database.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    public void Dispose() => _database.Dispose();

    [Fact]
    public async Task Concurrent_writes_share_commits_and_each_is_readable_by_another_connection_when_its_task_completes()
    {
        const int Writes = 400;
        var readerConnection = $"Data Source={_database.FullPath};Mode=ReadOnly;Pooling=False";
        var seenWhenDone = new bool[Writes];

        await Task.WhenAll(Enumerable.Range(0, Writes).Select(async i =>
        {
            await _database.WriteAsync((connection, ct) => Insert(connection, $"peer-{i}", ct));
            // Completed means committed: a separate connection (no pool, its own snapshot) sees the row now.
            await using var reader = new SqliteConnection(readerConnection);
            await reader.OpenAsync();
            await using var select = reader.CreateCommand();
            select.CommandText = "SELECT COUNT(*) FROM peers WHERE id = $id";
            select.Parameters.AddWithValue("$id", $"peer-{i}");
            seenWhenDone[i] = (long)(await select.ExecuteScalarAsync())! == 1;
        }));

        Assert.All(seenWhenDone, Assert.True);
        Assert.True(_database.Commits < Writes / 4, $"{Writes} writes took {_database.Commits} commits");
    }

    [Fact]
    public async Task A_write_that_fails_in_a_group_is_rolled_back_alone_and_its_caller_gets_the_error()
    {
        await _database.WriteAsync((connection, ct) => Insert(connection, "taken", ct));

        // Queued together, so they are likely to share a commit; the outcome must not depend on it.
        var before = _database.WriteAsync((connection, ct) => Insert(connection, "before", ct));
        var duplicate = _database.WriteAsync(async (connection, ct) =>
        {
            await Insert(connection, "half-done", ct); // in the failing write's savepoint: rolled back with it
            return await Insert(connection, "taken", ct);
        });
        var after = _database.WriteAsync((connection, ct) => Insert(connection, "after", ct));

        Assert.Equal(1, await before);
        Assert.Equal(1, await after);
        var error = await Assert.ThrowsAsync<SqliteException>(() => duplicate);
        Assert.Equal(SqliteDatabase.SqliteConstraint, error.SqliteErrorCode);
        Assert.Equal(["after", "before", "taken"], await IdsAsync());
        Assert.Null(await _database.WriteProblemAsync());
    }

    [Fact]
    public async Task A_write_cancelled_while_it_waits_does_not_run()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _database.WriteAsync((connection, ct) => Insert(connection, "never", ct), cancelled.Token));
        await _database.WriteAsync((connection, ct) => Insert(connection, "later", ct));

        Assert.Equal(["later"], await IdsAsync());
    }

    private static async Task<int> Insert(SqliteConnection connection, string id, CancellationToken cancellationToken)
    {
        await using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO peers (id, wg_pub_key, name, created_at) VALUES ($id, $key, 'test', 0)";
        insert.Parameters.AddWithValue("$id", id);
        insert.Parameters.AddWithValue("$key", "key-" + id);
        return await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<List<string>> IdsAsync()
    {
        await using var connection = await _database.OpenAsync();
        await using var select = connection.CreateCommand();
        select.CommandText = "SELECT id FROM peers ORDER BY id";
        var ids = new List<string>();
        await using var rows = await select.ExecuteReaderAsync();
        while (await rows.ReadAsync())
        {
            ids.Add(rows.GetString(0));
        }

        return ids;
    }
}
