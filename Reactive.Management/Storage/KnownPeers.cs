using System.Collections.Concurrent;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;

namespace Reactive.Management.Storage;

/// <summary>
/// A database registry with the peers it has found kept in memory: a registered peer never changes and is never
/// removed, so once found it is the same for good, and every later lookup (each job created, each stream opened)
/// costs no query. A peer not found is not kept: it may be registered a moment later, here or on another replica.
/// </summary>
internal sealed class KnownPeers(IPeerRegistry database) : IPeerRegistry
{
    private readonly ConcurrentDictionary<string, Peer> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<WireGuardPublicKey, Peer> _byKey = new();

    /// <inheritdoc />
    public ValueTask<Peer?> FindByKeyAsync(WireGuardPublicKey key, CancellationToken cancellationToken = default) =>
        _byKey.TryGetValue(key, out var peer) ? ValueTask.FromResult<Peer?>(peer) : KeepAsync(database.FindByKeyAsync(key, cancellationToken));

    /// <inheritdoc />
    public ValueTask<Peer?> FindByIdAsync(string id, CancellationToken cancellationToken = default) =>
        _byId.TryGetValue(id, out var peer) ? ValueTask.FromResult<Peer?>(peer) : KeepAsync(database.FindByIdAsync(id, cancellationToken));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Peer>> ListAsync(CancellationToken cancellationToken = default) => database.ListAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default)
    {
        var (peer, created) = await database.RegisterAsync(key, name, cancellationToken).ConfigureAwait(false);
        Keep(peer);
        return (peer, created);
    }

    private async ValueTask<Peer?> KeepAsync(ValueTask<Peer?> lookup)
    {
        var peer = await lookup.ConfigureAwait(false);
        if (peer is not null)
        {
            Keep(peer);
        }

        return peer;
    }

    private void Keep(Peer peer)
    {
        _byId.TryAdd(peer.Id, peer);
        _byKey.TryAdd(peer.Key, peer);
    }
}
