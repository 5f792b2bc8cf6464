using System.Collections.Concurrent;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;

namespace Reactive.Management.Storage;

/// <summary>
/// A database registry with the peers it has found kept in memory, so that a lookup (each job created, each stream
/// opened) costs no query. A peer's identity never changes; its <see cref="Peer.RemoteJobsAllowed"/> can, through this
/// registry (which keeps the new value) or through another replica's: so with replicas a kept peer is read again once
/// it is older than <c>refreshAfter</c>. A peer not found is not kept: it may be registered a moment later.
/// </summary>
/// <param name="database">The registry over the database.</param>
/// <param name="refreshAfter">How long a kept peer is trusted; null for ever (this process is the database's only writer).</param>
internal sealed class KnownPeers(IPeerRegistry database, TimeSpan? refreshAfter = null) : IPeerRegistry
{
    private readonly ConcurrentDictionary<string, Kept> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<WireGuardPublicKey, Kept> _byKey = new();

    /// <inheritdoc />
    public ValueTask<Peer?> FindByKeyAsync(WireGuardPublicKey key, CancellationToken cancellationToken = default) =>
        _byKey.TryGetValue(key, out var kept) && IsFresh(kept) ? ValueTask.FromResult<Peer?>(kept.Peer) : KeepAsync(database.FindByKeyAsync(key, cancellationToken));

    /// <inheritdoc />
    public ValueTask<Peer?> FindByIdAsync(string id, CancellationToken cancellationToken = default) =>
        _byId.TryGetValue(id, out var kept) && IsFresh(kept) ? ValueTask.FromResult<Peer?>(kept.Peer) : KeepAsync(database.FindByIdAsync(id, cancellationToken));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Peer>> ListAsync(CancellationToken cancellationToken = default) => database.ListAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default)
    {
        var (peer, created) = await database.RegisterAsync(key, name, cancellationToken).ConfigureAwait(false);
        Keep(peer);
        return (peer, created);
    }

    /// <inheritdoc />
    public ValueTask<Peer?> SetRemoteJobsAllowedAsync(string id, bool? allowed, CancellationToken cancellationToken = default) =>
        KeepAsync(database.SetRemoteJobsAllowedAsync(id, allowed, cancellationToken));

    private bool IsFresh(Kept kept) => refreshAfter is not { } limit || Environment.TickCount64 - kept.At < limit.TotalMilliseconds;

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
        var kept = new Kept(peer, Environment.TickCount64);
        _byId[peer.Id] = kept;
        _byKey[peer.Key] = kept;
    }

    private sealed record Kept(Peer Peer, long At);
}
