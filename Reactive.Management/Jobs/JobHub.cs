using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>The connected peers: at most one live <see cref="PeerJobChannel"/> per WireGuard key.</summary>
public sealed class JobHub
{
    private readonly ConcurrentDictionary<WireGuardPublicKey, PeerJobChannel> _channels = new();

    /// <summary>How many peers have a live Job stream.</summary>
    public int ConnectedCount => _channels.Count;

    /// <summary>Whether the peer has a live Job stream.</summary>
    public bool IsConnected(WireGuardPublicKey peer) => _channels.ContainsKey(peer);

    /// <summary>Creates a channel for a new stream of <paramref name="peer"/>, not yet registered.</summary>
    /// <param name="peer">The peer whose stream it is.</param>
    /// <param name="capacity">How many published jobs may wait for their write at once (see <see cref="PeerJobChannel.Capacity"/>).</param>
    public PeerJobChannel CreateChannel(WireGuardPublicKey peer, int capacity = PeerJobChannel.DefaultCapacity) =>
        new(this, peer ?? throw new ArgumentNullException(nameof(peer)), capacity);

    /// <summary>
    /// Makes <paramref name="channel"/> the peer's current one. A previous channel of the same peer is
    /// completed (its stream ends) and returned.
    /// </summary>
    public PeerJobChannel? Register(PeerJobChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        PeerJobChannel? replaced = null;
        _channels.AddOrUpdate(
            channel.Peer,
            channel,
            (_, previous) =>
            {
                replaced = previous;
                return channel;
            });
        if (replaced is not null && !ReferenceEquals(replaced, channel))
        {
            replaced.CompleteAsReplaced();
            return replaced;
        }

        return null;
    }

    /// <summary>The peer's current channel, if it is connected.</summary>
    public bool TryGetChannel(WireGuardPublicKey peer, [NotNullWhen(true)] out PeerJobChannel? channel) =>
        _channels.TryGetValue(peer, out channel);

    // Only the same instance: after a quick reconnect the newer stream's channel must stay.
    internal void Unregister(PeerJobChannel channel) =>
        _channels.TryRemove(new KeyValuePair<WireGuardPublicKey, PeerJobChannel>(channel.Peer, channel));
}
