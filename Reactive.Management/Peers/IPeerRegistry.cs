using Reactive.Management.Crypto;

namespace Reactive.Management.Peers;

/// <summary>Decides which WireGuard keys may open a Job stream, and names them.</summary>
/// <remarks>
/// A lookup that throws is reported to the peer as <c>Unauthenticated</c> (NetBird's answer when its
/// store fails); a key that is not found is answered with <c>PermissionDenied</c>.
/// </remarks>
public interface IPeerRegistry
{
    /// <summary>The peer with this key, or null.</summary>
    ValueTask<Peer?> FindByKeyAsync(WireGuardPublicKey key, CancellationToken cancellationToken = default);

    /// <summary>The peer with this id, or null.</summary>
    ValueTask<Peer?> FindByIdAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>All peers, oldest first.</summary>
    ValueTask<IReadOnlyList<Peer>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Registers a key, or returns the existing peer with that key.</summary>
    /// <returns>The peer, and whether it was created by this call.</returns>
    ValueTask<(Peer Peer, bool Created)> RegisterAsync(WireGuardPublicKey key, string name, CancellationToken cancellationToken = default);

    /// <summary>Sets whether jobs may be created for the peer (null: the host's default).</summary>
    /// <returns>The peer as stored now, or null when no peer has the id.</returns>
    ValueTask<Peer?> SetRemoteJobsAllowedAsync(string id, bool? allowed, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException($"{GetType().Name} cannot change peers.");
}
