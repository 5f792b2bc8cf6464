using System.Reactive.Concurrency;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>The default peer registry: peers in the embedded SQLite database, kept across restarts.</summary>
internal sealed class SqlitePeerRegistry(SqliteDatabase database, IScheduler clock) : IPeerRegistry
{
    /// <inheritdoc />
    public ValueTask<Peer?> FindByKeyAsync(WireGuardPublicKey key, CancellationToken cancellationToken = default) =>
        FindOneAsync("wg_pub_key", key.ToString(), cancellationToken);

    /// <inheritdoc />
    public ValueTask<Peer?> FindByIdAsync(string id, CancellationToken cancellationToken = default) =>
        FindOneAsync("id", id, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Peer>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {StoredRows.PeerColumns} FROM peers ORDER BY created_at, id";
        return await StoredRows.ReadAllAsync(command, StoredRows.ReadPeer, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(name);
        var inserted = await database.WriteAsync(
            async (connection, ct) =>
            {
                await using var insert = connection.CreateCommand();
                insert.CommandText = "INSERT INTO peers (id, wg_pub_key, name, created_at) VALUES ($id, $key, $name, $created_at) ON CONFLICT (wg_pub_key) DO NOTHING";
                insert.Parameters.AddWithValue("$id", RandomNumberGenerator.GetString(InMemoryPeerRegistry.IdAlphabet, 20));
                insert.Parameters.AddWithValue("$key", key.ToString());
                insert.Parameters.AddWithValue("$name", name);
                insert.Parameters.AddWithValue("$created_at", ToTicks(clock.Now));
                return await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        var created = inserted == 1;
        var peer = await FindByKeyAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The peer vanished right after it was registered.");
        return (peer, created);
    }

    /// <inheritdoc />
    public async ValueTask<Peer?> SetRemoteJobsAllowedAsync(string id, bool? allowed, CancellationToken cancellationToken = default)
    {
        await database.WriteOneStatementAsync(
            async (connection, ct) =>
            {
                var update = database.Prepared(connection, "UPDATE peers SET remote_jobs_allowed = $allowed WHERE id = $id");
                update.Parameters.AddWithValue("$id", id);
                update.Parameters.AddWithValue("$allowed", allowed is { } value ? (value ? 1 : 0) : DBNull.Value);
                return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        return await FindByIdAsync(id, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<Peer?> FindOneAsync(string column, string value, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {StoredRows.PeerColumns} FROM peers WHERE {column} = $value";
        command.Parameters.AddWithValue("$value", value);
        var peers = await StoredRows.ReadAllAsync(command, StoredRows.ReadPeer, cancellationToken).ConfigureAwait(false);
        return peers.Count == 0 ? null : peers[0];
    }
}
