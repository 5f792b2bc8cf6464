using Reactive.Management.Protocol;

namespace Reactive.Management.Hosting.Internal;

/// <summary>One application operator for the outgoing pipeline, as registered through the builder.</summary>
internal sealed record OutgoingOperator(Func<IObservable<JobRequest>, PeerStreamContext, IObservable<JobRequest>> Compose);
