using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Reactive.Management.Hosting;
using Reactive.Management.Hosting.Api;
using Reactive.Management.Hosting.Internal;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the Reactive.Management server's endpoints.</summary>
public static class ReactiveManagementEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>management.ManagementService</c> (gRPC: <c>Job</c>, <c>GetServerKey</c>, <c>isHealthy</c>), the
    /// HTTP API under <c>/api</c> (<c>/api/peers</c>, <c>/api/peers/{peerId}/jobs</c>; bearer token when the host
    /// listens beyond loopback), its OpenAPI document at <c>/openapi/v1.json</c>, the operator console at <c>/</c>
    /// (unless <c>Management:Console</c> is false) and the health check at <c>/healthz</c> (open, for probes).
    /// </summary>
    /// <returns>A builder that applies conventions (authorization, rate limits, …) to every mapped endpoint.</returns>
    /// <exception cref="InvalidOperationException"><c>AddReactiveManagement()</c> was not called.</exception>
    public static IEndpointConventionBuilder MapReactiveManagement(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        // Asked, not resolved: resolving would load the key and open the store here, outside the host's start.
        if (endpoints.ServiceProvider.GetService<IServiceProviderIsService>()?.IsService(typeof(JobStreamHandler)) != true)
        {
            throw new InvalidOperationException(
                "Unable to find the Reactive.Management services. Add them by calling 'services.AddReactiveManagement()' while configuring the application's services.");
        }

        var grpc = endpoints.MapGrpcService<ManagementGrpcService>();
        // The Job method's handler runs only once the stream's hello has arrived (bounded in size, time and number).
        var helloGate = endpoints.ServiceProvider.GetRequiredService<HelloGate>();
        grpc.Add(endpoint =>
        {
            if (endpoint.Metadata.OfType<GrpcMethodMetadata>().Any(grpcMethod => grpcMethod.Method.Name == nameof(ManagementGrpcService.Job)) &&
                endpoint.RequestDelegate is { } handler)
            {
                endpoint.RequestDelegate = helloGate.Wrap(handler);
            }
        });
        var api = endpoints.MapGroup("/api").MapManagementApi().MapEventsApi();
        endpoints.MapHealthChecks("/healthz");
        // The document of the API (open, like the console's files: neither holds anything secret).
        endpoints.MapOpenApi();
        var console = endpoints.ServiceProvider.GetRequiredService<IOptions<ManagementOptions>>().Value.Console ? OperatorConsole.Map(endpoints) : [];
        return new CompositeEndpointConventionBuilder([grpc, api, .. console]);
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
