using System.Reactive.Linq;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;

namespace Reactive.Management.Replicas;

/// <summary>One host alone (SQLite or memory): no other replica to tell, and the hub knows every stream.</summary>
internal sealed class LocalJobSignals : IJobSignals
{
    public IObservable<WireGuardPublicKey> PeersWithWork { get; } = Observable.Never<WireGuardPublicKey>();

    public ValueTask PeerHasWorkAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
}

/// <summary>One host alone: a peer is connected when this host's hub holds its stream.</summary>
internal sealed class LocalStreamOwnership(JobHub hub, string replica) : IStreamOwnership
{
    public string Replica { get; } = replica;

    public ValueTask ClaimAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask ReleaseAsync(WireGuardPublicKey peer, Guid stream, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask<string?> OwnerAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(hub.IsConnected(peer) ? Replica : null);

    public ValueTask<IReadOnlyDictionary<WireGuardPublicKey, string>> OwnersAsync(IReadOnlyCollection<WireGuardPublicKey> peers, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IReadOnlyDictionary<WireGuardPublicKey, string>>(peers.Where(hub.IsConnected).Distinct().ToDictionary(peer => peer, _ => Replica));
}
