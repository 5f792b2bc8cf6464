using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Reactive.Management.Hosting.Api;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The OpenAPI document of the HTTP API (<c>/openapi/v1.json</c>), from the framework's own generator: every route with
/// its problem-details errors, the bearer scheme and each route's scope, and the bodies' real (snake_case) names.
/// </summary>
internal static class ManagementOpenApi
{
    public const string DocumentName = "v1";
    private const string Bearer = "Bearer";

    public static void Add(IServiceCollection services) => services.AddOpenApi(DocumentName, options =>
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Reactive.Management API",
                Version = DocumentName,
                Description = "Peers, the jobs asked of them, fan-out batches and live events. Errors are RFC 9457 problem details.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[Bearer] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "Management:ApiToken (every scope) or a named token of Management:ApiTokens (its scopes). Not needed on loopback unless a token is set.",
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<RequiredScope>().FirstOrDefault() is { } scope)
            {
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Bearer, context.Document)] = [scope.Scope] });
                operation.Description = $"Needs the scope `{scope.Scope}`.";
            }

            foreach (var parameter in metadata.OfType<ApiParameter>())
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = parameter.Name,
                    In = parameter.InHeader ? ParameterLocation.Header : ParameterLocation.Query,
                    Description = parameter.Description,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }

            if (metadata.OfType<JsonRequestBody>().FirstOrDefault() is { } body)
            {
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false) },
                    },
                };
            }
        });
        // The API writes its bodies with ApiJson.Options (snake_case); the generator names properties by the host's JSON
        // options. The document says what goes over the wire, named by the API's own policy.
        var wireNames = ApiJson.Options.PropertyNamingPolicy!;
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonTypeInfo.Type.Assembly == typeof(ManagementOpenApi).Assembly && schema.Properties is { Count: > 0 } properties)
            {
                schema.Properties = properties.ToDictionary(pair => wireNames.ConvertName(pair.Key), pair => pair.Value);
                if (schema.Required is { Count: > 0 } required)
                {
                    schema.Required = required.Select(wireNames.ConvertName).ToHashSet();
                }
            }

            return Task.CompletedTask;
        });
    });
}
