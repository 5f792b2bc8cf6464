using System.Reactive.Concurrency;
using Reactive.Management.Crypto;
using Reactive.Management.Storage;

namespace Reactive.Management.Replicas;

/// <summary>Stream ownership in PostgreSQL (<c>stream_owners</c>): one row per connected peer, naming its replica.</summary>
/// <remarks>
/// A replica forgets its own rows when it starts (streams do not survive a restart). A replica that dies and never
/// comes back under the same name leaves its rows until its peers reconnect elsewhere, which replaces them.
/// </remarks>
public sealed class PostgresStreamOwnership(PostgresDatabase database, string replica, IScheduler clock) : IStreamOwnership
{
    /// <inheritdoc />
    public string Replica { get; } = replica;

    /// <summary>Removes the rows this replica left before a restart.</summary>
    public async ValueTask ForgetOwnStreamsAsync(CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync("DELETE FROM stream_owners WHERE replica = @replica", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("replica", Replica);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask ClaimAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await using var command = await database.CommandAsync(
            """
            INSERT INTO stream_owners (peer_key, replica, stream, since) VALUES (@peer_key, @replica, @stream, @since)
            ON CONFLICT (peer_key) DO UPDATE SET replica = excluded.replica, stream = excluded.stream, since = excluded.since
            """,
            cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_key", peer.ToString());
        command.Parameters.AddWithValue("replica", Replica);
        command.Parameters.AddWithValue("stream", stream);
        command.Parameters.AddWithValue("since", StoredValues.ToTicks(clock.Now));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await using var command = await database.CommandAsync("DELETE FROM stream_owners WHERE peer_key = @peer_key AND stream = @stream", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_key", peer.ToString());
        command.Parameters.AddWithValue("stream", stream);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<string?> OwnerAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        await using var command = await database.CommandAsync("SELECT replica FROM stream_owners WHERE peer_key = @peer_key", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_key", peer.ToString());
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }
}
