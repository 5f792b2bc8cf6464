using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Reactive.Management.Crypto;
using Reactive.Management.Storage;

namespace Reactive.Management.Replicas;

/// <summary>Stream ownership in PostgreSQL (<c>stream_owners</c>): one row per connected peer, naming its replica.</summary>
/// <remarks>
/// Rows are leases: the replica renews all of its rows every <c>renewEvery</c>, and a row not renewed for three of those
/// counts as gone, so the streams of a replica that died stop showing as connected within that time. A replica also
/// forgets its own rows when it starts (streams do not survive a restart).
/// </remarks>
internal sealed class PostgresStreamOwnership(PostgresDatabase database, string replica, TimeSpan renewEvery, IScheduler clock) : IStreamOwnership
{
    /// <inheritdoc />
    public string Replica { get; } = replica;

    /// <summary>How long a row stays true without being renewed: three renewal periods.</summary>
    public TimeSpan Lease => renewEvery * 3;

    /// <summary>Renews this replica's rows every renewal period until disposed; a failed renewal is retried next period.</summary>
    public IDisposable StartRenewing(Action<Exception> failed) =>
        Observable.Interval(renewEvery, clock)
            .Select(_ => Observable.FromAsync(ct => RenewAsync(ct).AsTask()).Catch<System.Reactive.Unit, Exception>(error =>
            {
                failed(error);
                return Observable.Empty<System.Reactive.Unit>();
            }))
            .Concat()
            .Subscribe();

    /// <summary>Marks every row of this replica as still true now.</summary>
    public async ValueTask RenewAsync(CancellationToken cancellationToken = default)
    {
        await using var command = await database.CommandAsync("UPDATE stream_owners SET renewed = @now WHERE replica = @replica", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("now", StoredValues.ToTicks(clock.Now));
        command.Parameters.AddWithValue("replica", Replica);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

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
            INSERT INTO stream_owners (peer_key, replica, stream, since, renewed) VALUES (@peer_key, @replica, @stream, @since, @since)
            ON CONFLICT (peer_key) DO UPDATE SET replica = excluded.replica, stream = excluded.stream, since = excluded.since, renewed = excluded.renewed
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
        await using var command = await database.CommandAsync("SELECT replica FROM stream_owners WHERE peer_key = @peer_key AND renewed >= @cutoff", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_key", peer.ToString());
        command.Parameters.AddWithValue("cutoff", StoredValues.ToTicks(clock.Now) - Lease.Ticks);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
    }

    /// <inheritdoc />
    /// <remarks>One query for all of them (a listing of 10,000 peers was 10,000 round trips).</remarks>
    public async ValueTask<IReadOnlyDictionary<WireGuardPublicKey, string>> OwnersAsync(IReadOnlyCollection<WireGuardPublicKey> peers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var byText = new Dictionary<string, WireGuardPublicKey>(peers.Count, StringComparer.Ordinal);
        foreach (var peer in peers)
        {
            byText[peer.ToString()] = peer;
        }

        var owners = new Dictionary<WireGuardPublicKey, string>();
        if (byText.Count == 0)
        {
            return owners;
        }

        await using var command = await database.CommandAsync("SELECT peer_key, replica FROM stream_owners WHERE peer_key = ANY(@peer_keys) AND renewed >= @cutoff", cancellationToken).ConfigureAwait(false);
        command.Parameters.AddWithValue("peer_keys", byText.Keys.ToArray());
        command.Parameters.AddWithValue("cutoff", StoredValues.ToTicks(clock.Now) - Lease.Ticks);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            owners[byText[reader.GetString(0)]] = reader.GetString(1);
        }

        return owners;
    }
}
