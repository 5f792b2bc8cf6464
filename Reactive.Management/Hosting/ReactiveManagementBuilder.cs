using System.Reactive.Concurrency;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;

namespace Reactive.Management.Hosting;

/// <summary>Configures the management server further; returned by <c>AddReactiveManagement</c>.</summary>
public sealed class ReactiveManagementBuilder
{
    internal ReactiveManagementBuilder(IServiceCollection services) => Services = services;

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Composes an operator into every Job stream's outgoing pipeline, after the heartbeat merge and before
    /// encryption, so it sees each plaintext request (jobs and heartbeats) on its way out.
    /// </summary>
    /// <param name="compose">Takes the stream's requests and its context, returns the requests to send.</param>
    /// <remarks>
    /// Operators compose in the order they are added. One that holds requests back (a <c>Throttle</c>, a
    /// <c>Buffer</c>) delays them on the wire too; one that drops heartbeats lets proxies close the stream; one that
    /// drops jobs keeps their places in the stream's <c>MaxQueuedJobsPerStream</c> (they are counted free once written).
    /// </remarks>
    public ReactiveManagementBuilder AddOutgoingOperator(Func<IObservable<JobRequest>, PeerStreamContext, IObservable<JobRequest>> compose)
    {
        ArgumentNullException.ThrowIfNull(compose);
        Services.AddSingleton(new OutgoingOperator(compose));
        return this;
    }

    /// <summary>Replaces the peer registry chosen by <c>Management:Store</c>.</summary>
    public ReactiveManagementBuilder UsePeerRegistry<TRegistry>()
        where TRegistry : class, IPeerRegistry
    {
        Services.Replace(ServiceDescriptor.Singleton<IPeerRegistry, TRegistry>());
        return this;
    }

    /// <summary>Replaces the job store chosen by <c>Management:Store</c>.</summary>
    public ReactiveManagementBuilder UseJobStore<TStore>()
        where TStore : class, IJobStore
    {
        Services.Replace(ServiceDescriptor.Singleton<IJobStore, TStore>());
        return this;
    }

    /// <summary>
    /// Times heartbeats and deadlines and stamps jobs on <paramref name="scheduler"/> (a <c>TestScheduler</c> in tests),
    /// in place of the timer wheel that <c>Management:HeartbeatScheduler</c> chooses.
    /// </summary>
    public ReactiveManagementBuilder UseScheduler(IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        Services.Replace(ServiceDescriptor.Singleton(new ManagementScheduler(scheduler)));
        return this;
    }
}
