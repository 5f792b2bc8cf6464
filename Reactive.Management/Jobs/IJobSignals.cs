using Reactive.Management.Crypto;

namespace Reactive.Management.Jobs;

/// <summary>
/// Hints between management replicas that a peer has work: the replica that stores a job for a peer whose stream it
/// does not hold says so, and the replica that holds the stream delivers from the store.
/// </summary>
/// <remarks>
/// Hints only: the store is the truth. A hint that is lost costs time, not a job — the replica's poll, or the peer's
/// next stream, finds the job.
/// </remarks>
public interface IJobSignals
{
    /// <summary>Tells the other replicas that <paramref name="peer"/> has a job waiting.</summary>
    ValueTask PeerHasWorkAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default);

    /// <summary>Peers that another replica (or the poll) says have work waiting. Hot; never completes.</summary>
    IObservable<WireGuardPublicKey> PeersWithWork { get; }
}
