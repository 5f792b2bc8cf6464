using Reactive.Management.Crypto;

namespace Reactive.Management.Replicas;

/// <summary>Which replica holds each peer's Job stream: for the API's <c>connected</c> and for operators.</summary>
public interface IStreamOwnership
{
    /// <summary>This replica's name (<c>Management:ReplicaName</c>).</summary>
    string Replica { get; }

    /// <summary>Records that this replica now holds <paramref name="stream"/> of <paramref name="peer"/> (a peer that reconnected elsewhere moves).</summary>
    ValueTask ClaimAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default);

    /// <summary>Forgets <paramref name="stream"/>, unless the peer's newer stream (here or on another replica) replaced it.</summary>
    ValueTask ReleaseAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default);

    /// <summary>The replica holding the peer's stream, or null when it has none.</summary>
    ValueTask<string?> OwnerAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default);

    /// <summary>The replicas holding the streams of <paramref name="peers"/>: an entry for each peer that has one.</summary>
    /// <remarks>
    /// For listing many peers at once: the built-in stores answer in one lookup (PostgreSQL: one query), where this
    /// default asks <see cref="OwnerAsync"/> once per peer.
    /// </remarks>
    async ValueTask<IReadOnlyDictionary<WireGuardPublicKey, string>> OwnersAsync(IReadOnlyCollection<WireGuardPublicKey> peers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var owners = new Dictionary<WireGuardPublicKey, string>();
        foreach (var peer in peers)
        {
            if (await OwnerAsync(peer, cancellationToken).ConfigureAwait(false) is { } replica)
            {
                owners[peer] = replica;
            }
        }

        return owners;
    }
}
