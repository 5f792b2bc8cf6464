using Reactive.Management.Peers;

namespace Reactive.Management.Hosting;

/// <summary>What an outgoing-pipeline operator knows about the stream it is composed into.</summary>
/// <param name="Peer">The peer at the other end.</param>
/// <param name="Services">The request's services, for operators that need their own dependencies.</param>
/// <param name="CancellationToken">Cancelled when the stream ends.</param>
public sealed record PeerStreamContext(Peer Peer, IServiceProvider Services, CancellationToken CancellationToken);
