using Reactive.Management.Crypto;

namespace Reactive.Management.Peers;

/// <summary>A peer the management server knows, identified by its WireGuard public key.</summary>
/// <param name="Id">Short opaque identifier used by the HTTP API.</param>
/// <param name="Key">The peer's WireGuard public key, its identity on the Job stream.</param>
/// <param name="Name">A human-readable name.</param>
/// <param name="CreatedAt">When the peer was registered.</param>
/// <param name="RemoteJobsAllowed">
/// Whether jobs may be created for the peer (NetBird made remote jobs opt-in per peer); null: the host's default
/// (<c>Management:RemoteJobsAllowedByDefault</c>).
/// </param>
public sealed record Peer(string Id, WireGuardPublicKey Key, string Name, DateTimeOffset CreatedAt, bool? RemoteJobsAllowed = null);
