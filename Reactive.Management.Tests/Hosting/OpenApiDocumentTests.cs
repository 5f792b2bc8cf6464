using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary><c>/openapi/v1.json</c> from a real host: every mapped API route in it, with its errors and the bearer scheme.</summary>
public sealed class OpenApiDocumentTests
{
    [Fact]
    public async Task Every_mapped_API_route_is_in_the_document_with_its_scope_and_problem_details_errors()
    {
        await using var server = await ManagementServer.StartAsync(options => options.ApiToken = "openapi-test-token-0123456789");
        // Open, like the console's files: the document holds nothing secret.
        using var response = await server.Api.GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = document.RootElement;
        var paths = root.GetProperty("paths");

        var mapped = server.Service<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(endpoint => endpoint.RoutePattern.RawText?.StartsWith("/api", StringComparison.Ordinal) == true)
            .SelectMany(endpoint => endpoint.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(method => (Method: method.ToLowerInvariant(), Path: Normalize(endpoint.RoutePattern.RawText!))))
            .ToList();
        Assert.True(mapped.Count >= 15, $"only {mapped.Count} API routes were found mapped");
        var missing = mapped.Where(route => !paths.TryGetProperty(route.Path, out var item) || !item.TryGetProperty(route.Method, out _)).ToList();
        Assert.True(missing.Count == 0, "mapped but not in /openapi/v1.json: " + string.Join(", ", missing.Select(route => $"{route.Method.ToUpperInvariant()} {route.Path}")));

        foreach (var (method, path) in mapped)
        {
            var operation = paths.GetProperty(path).GetProperty(method);
            var responses = operation.GetProperty("responses");
            foreach (var status in new[] { "401", "403", "503" })
            {
                Assert.True(responses.TryGetProperty(status, out var error), $"{method} {path} does not say it can answer {status}");
                Assert.True(error.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{method} {path}'s {status} is not problem details");
            }

            var scope = operation.GetProperty("security")[0].GetProperty("Bearer")[0].GetString();
            Assert.Matches("^(peers|jobs|events):(read|write)$", scope);
        }

        var bearer = root.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer");
        Assert.Equal("http", bearer.GetProperty("type").GetString());
        Assert.Equal("bearer", bearer.GetProperty("scheme").GetString());
        // Bodies are described by their names on the wire (snake_case), not the host's default naming.
        var peer = root.GetProperty("components").GetProperty("schemas").GetProperty("PeerResponse").GetProperty("properties");
        Assert.True(peer.TryGetProperty("wg_pub_key", out _) && peer.TryGetProperty("last_heartbeat_at", out _), peer.GetRawText());
        Assert.False(paths.TryGetProperty("/", out _), "the console's page is not an API route");
        // Bodies read by hand are described too, under their wire names.
        var body = paths.GetProperty("/api/peers").GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetRawText();
        Assert.Contains("\"wg_pub_key\"", body, StringComparison.Ordinal);
        // Query parameters and headers read by hand too.
        var query = paths.GetProperty("/api/jobs").GetProperty("get").GetProperty("parameters").EnumerateArray().Select(parameter => parameter.GetProperty("name").GetString()).ToList();
        Assert.Equal(["status", "peer_id", "batch_id", "created_after", "limit", "cursor"], query);
        Assert.Contains(paths.GetProperty("/api/events").GetProperty("get").GetProperty("parameters").EnumerateArray(), parameter => parameter.GetProperty("name").GetString() == "Last-Event-ID" && parameter.GetProperty("in").GetString() == "header");
        var batch = paths.GetProperty("/api/jobs").GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetRawText();
        Assert.True(batch.Contains("\"peer_ids\"", StringComparison.Ordinal) && batch.Contains("\"max_in_flight\"", StringComparison.Ordinal), batch);
    }

    // Route parameters as the document writes them ("{peerId}"; constraints, if any, left out); no trailing slash.
    private static string Normalize(string pattern) =>
        System.Text.RegularExpressions.Regex.Replace(pattern, "{([^}:]+)(:[^}]*)?}", "{$1}").TrimEnd('/') is { Length: > 0 } path ? path : "/";
}
