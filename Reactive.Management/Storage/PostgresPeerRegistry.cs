using System.Reactive.Concurrency;
using System.Security.Cryptography;
using Npgsql;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;
using static Reactive.Management.Storage.StoredValues;

namespace Reactive.Management.Storage;

/// <summary>Peers in PostgreSQL, shared by several management replicas.</summary>
internal sealed class PostgresPeerRegistry(PostgresDatabase database, IScheduler clock) : IPeerRegistry
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
        await using var command = await database.CommandAsync($"SELECT {StoredRows.PeerColumns} FROM peers ORDER BY created_at, id", cancellationToken).ConfigureAwait(false);
        return await StoredRows.ReadAllAsync(command, StoredRows.ReadPeer, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(name);
        await using var insert = await database.CommandAsync(
            "INSERT INTO peers (id, wg_pub_key, name, created_at) VALUES (@id, @key, @name, @created_at) ON CONFLICT (wg_pub_key) DO NOTHING",
            cancellationToken).ConfigureAwait(false);
        insert.Parameters.AddWithValue("id", RandomNumberGenerator.GetString(InMemoryPeerRegistry.IdAlphabet, 20));
        insert.Parameters.AddWithValue("key", key.ToString());
        insert.Parameters.AddWithValue("name", name);
        insert.Parameters.AddWithValue("created_at", ToTicks(clock.Now));
        var created = await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        var peer = await FindByKeyAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The peer vanished right after it was registered.");
        return (peer, created);
    }

    /// <inheritdoc />
    public async ValueTask<Peer?> SetRemoteJobsAllowedAsync(string id, bool? allowed, CancellationToken cancellationToken = default)
    {
        await using (var update = await database.CommandAsync("UPDATE peers SET remote_jobs_allowed = @allowed WHERE id = @id", cancellationToken).ConfigureAwait(false))
        {
            update.Parameters.AddWithValue("id", id);
            update.Parameters.AddWithValue("allowed", NpgsqlTypes.NpgsqlDbType.Boolean, allowed is { } value ? value : DBNull.Value);
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return await FindByIdAsync(id, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<Peer?> FindOneAsync(string column, string value, CancellationToken cancellationToken)
    {
        await using var command = await database.CommandAsync($"SELECT {StoredRows.PeerColumns} FROM peers WHERE {column} = @value", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("value", value);
        var peers = await StoredRows.ReadAllAsync(command, StoredRows.ReadPeer, cancellationToken).ConfigureAwait(false);
        return peers.Count == 0 ? null : peers[0];
    }
}
