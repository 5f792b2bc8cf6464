using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Reactive.Management.Hosting.Api;
using Reactive.Management.Hosting.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the Reactive.Management server's endpoints.</summary>
public static class ReactiveManagementEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>management.ManagementService</c> (gRPC: <c>Job</c>, <c>GetServerKey</c>, <c>isHealthy</c>), the
    /// HTTP API under <c>/api</c> (<c>/api/peers</c>, <c>/api/peers/{peerId}/jobs</c>; bearer token when the host
    /// listens beyond loopback) and the health check at <c>/healthz</c> (open, for probes).
    /// </summary>
    /// <returns>A builder that applies conventions (authorization, rate limits, …) to every mapped endpoint.</returns>
    /// <exception cref="InvalidOperationException"><c>AddReactiveManagement()</c> was not called.</exception>
    public static IEndpointConventionBuilder MapReactiveManagement(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (endpoints.ServiceProvider.GetService<JobStreamHandler>() is null)
        {
            throw new InvalidOperationException(
                "Unable to find the Reactive.Management services. Add them by calling 'services.AddReactiveManagement()' while configuring the application's services.");
        }

        var grpc = endpoints.MapGrpcService<ManagementGrpcService>();
        var api = endpoints.MapGroup("/api").MapManagementApi();
        endpoints.MapHealthChecks("/healthz");
        return new CompositeEndpointConventionBuilder([grpc, api]);
    }

    private sealed class CompositeEndpointConventionBuilder(IEndpointConventionBuilder[] builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
