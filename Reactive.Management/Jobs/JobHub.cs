using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>The connected peers: at most one live <see cref="PeerOutbox"/> per WireGuard key.</summary>
internal sealed class JobHub
{
    private readonly ConcurrentDictionary<WireGuardPublicKey, PeerOutbox> _outboxes = new();

    /// <summary>How many peers have a live Job stream.</summary>
    public int ConnectedCount => _outboxes.Count;

    /// <summary>Whether the peer has a live Job stream.</summary>
    public bool IsConnected(WireGuardPublicKey peer) => _outboxes.ContainsKey(peer);

    /// <summary>Creates an outbox for a new stream of <paramref name="peer"/>, not yet registered.</summary>
    /// <param name="peer">The peer whose stream it is.</param>
    /// <param name="capacity">How many published jobs may wait for their write at once (see <see cref="PeerOutbox.Capacity"/>).</param>
    public PeerOutbox CreateOutbox(WireGuardPublicKey peer, int capacity = PeerOutbox.DefaultCapacity) =>
        new(this, peer ?? throw new ArgumentNullException(nameof(peer)), capacity);

    /// <summary>
    /// Makes <paramref name="outbox"/> the peer's current one. A previous outbox of the same peer is
    /// completed (its stream ends) and returned.
    /// </summary>
    public PeerOutbox? Register(PeerOutbox outbox)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        PeerOutbox? replaced = null;
        _outboxes.AddOrUpdate(
            outbox.Peer,
            outbox,
            (_, previous) =>
            {
                replaced = previous;
                return outbox;
            });
        if (replaced is not null && !ReferenceEquals(replaced, outbox))
        {
            replaced.CompleteAsReplaced();
            return replaced;
        }

        return null;
    }

    /// <summary>The peer's current outbox, if it is connected.</summary>
    public bool TryGetOutbox(WireGuardPublicKey peer, [NotNullWhen(true)] out PeerOutbox? outbox) =>
        _outboxes.TryGetValue(peer, out outbox);

    // Only the same instance: after a quick reconnect the newer stream's outbox must stay.
    internal void Unregister(PeerOutbox outbox) =>
        _outboxes.TryRemove(new KeyValuePair<WireGuardPublicKey, PeerOutbox>(outbox.Peer, outbox));
}
