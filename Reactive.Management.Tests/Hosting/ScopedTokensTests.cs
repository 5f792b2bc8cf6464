using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Reactive.Management.Crypto;
using Reactive.Management.Hosting;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary><c>Management:ApiTokens</c>: named tokens, stored as SHA-256 hashes, each with its scopes.</summary>
public sealed class ScopedTokensTests
{
    private const string Reader = "reader-token-0123456789abcdef";
    private const string Operator = "operator-token-0123456789abcdef";
    private const string Master = "master-token-0123456789abcdef";

    [Fact]
    public async Task Each_route_needs_its_scope_a_missing_one_gets_403_and_ApiToken_keeps_every_scope()
    {
        await using var server = await ManagementServer.StartAsync(options =>
        {
            options.ApiToken = Master;
            options.ApiTokens.Add(new ApiTokenOptions { Name = "dashboard", Sha256 = Sha256(Reader), Scopes = { ApiScopes.PeersRead, ApiScopes.JobsRead, ApiScopes.EventsRead } });
            options.ApiTokens.Add(new ApiTokenOptions { Name = "oncall", Sha256 = Sha256(Operator), Scopes = { ApiScopes.JobsWrite } });
        });
        using var peer = WireGuardKeyPair.Generate();
        using var registered = await SendAsync(server, HttpMethod.Post, "/api/peers", Master, new { wg_pub_key = peer.PublicKey.ToString(), name = "p" });
        var peerId = JsonDocument.Parse(await registered.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

        var cases = new (HttpMethod Method, string Path, object? Body, string Token, HttpStatusCode Expected)[]
        {
            (HttpMethod.Get, "/api/peers", null, Reader, HttpStatusCode.OK),
            (HttpMethod.Post, "/api/peers", new { wg_pub_key = peer.PublicKey.ToString() }, Reader, HttpStatusCode.Forbidden),
            (HttpMethod.Patch, $"/api/peers/{peerId}", new { remote_jobs_allowed = true }, Operator, HttpStatusCode.Forbidden),
            (HttpMethod.Post, $"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } }, Reader, HttpStatusCode.Forbidden),
            (HttpMethod.Post, $"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } }, Operator, HttpStatusCode.Created),
            (HttpMethod.Get, $"/api/peers/{peerId}/jobs", null, Operator, HttpStatusCode.Forbidden),
            (HttpMethod.Get, $"/api/peers/{peerId}/jobs", null, Reader, HttpStatusCode.OK),
            (HttpMethod.Post, "/api/jobs", new { all_peers = true, workload = new { type = "bundle" } }, Reader, HttpStatusCode.Forbidden),
            (HttpMethod.Get, "/api/jobs", null, Operator, HttpStatusCode.Forbidden),
            (HttpMethod.Get, "/api/events?last_event_id=abc", null, Operator, HttpStatusCode.Forbidden),
            (HttpMethod.Get, "/api/events?last_event_id=abc", null, Reader, HttpStatusCode.BadRequest),
            (HttpMethod.Get, "/api/peers", null, "not-a-token-of-this-host", HttpStatusCode.Unauthorized),
            (HttpMethod.Post, "/api/jobs", new { all_peers = true, workload = new { type = "bundle" } }, Master, HttpStatusCode.Created),
        };

        foreach (var (method, path, body, token, expected) in cases)
        {
            using var response = await SendAsync(server, method, path, token, body);
            Assert.True(expected == response.StatusCode, $"{method} {path} with {token[..6]}…: {response.StatusCode}, expected {expected}");
            if (expected == HttpStatusCode.Forbidden)
            {
                Assert.Contains("lacks the scope", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_job_records_the_named_token_that_created_it_and_the_one_that_cancelled_it()
    {
        await using var server = await ManagementServer.StartAsync(options =>
        {
            options.ApiToken = Master;
            options.ApiTokens.Add(new ApiTokenOptions { Name = "dashboard", Sha256 = Sha256(Reader), Scopes = { ApiScopes.JobsRead, ApiScopes.JobsWrite } });
            options.ApiTokens.Add(new ApiTokenOptions { Name = "oncall", Sha256 = Sha256(Operator), Scopes = { ApiScopes.JobsWrite } });
        });
        using var peer = WireGuardKeyPair.Generate();
        using var registered = await SendAsync(server, HttpMethod.Post, "/api/peers", Master, new { wg_pub_key = peer.PublicKey.ToString(), name = "p" });
        var peerId = JsonDocument.Parse(await registered.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

        using var created = await SendAsync(server, HttpMethod.Post, $"/api/peers/{peerId}/jobs", Reader, new { workload = new { type = "bundle" } });
        var jobId = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        using var cancelled = await SendAsync(server, HttpMethod.Delete, $"/api/peers/{peerId}/jobs/{jobId}", Operator, null);
        using var byMaster = await SendAsync(server, HttpMethod.Post, $"/api/peers/{peerId}/jobs", Master, new { workload = new { type = "bundle" } });

        // Read back from the store.
        using var job = JsonDocument.Parse(await (await SendAsync(server, HttpMethod.Get, $"/api/peers/{peerId}/jobs/{jobId}", Reader, null)).Content.ReadAsStringAsync());
        Assert.Equal("dashboard", job.RootElement.GetProperty("created_by").GetString());
        Assert.Equal("oncall", job.RootElement.GetProperty("cancelled_by").GetString());
        Assert.False(JsonDocument.Parse(await byMaster.Content.ReadAsStringAsync()).RootElement.TryGetProperty("created_by", out _));
    }

    [Fact]
    public async Task With_named_tokens_only_the_API_is_closed_on_loopback_too()
    {
        await using var server = await ManagementServer.StartAsync(options =>
            options.ApiTokens.Add(new ApiTokenOptions { Name = "dashboard", Sha256 = Sha256(Reader), Scopes = { ApiScopes.PeersRead } }));

        using var anonymous = await server.Api.GetAsync("/api/peers");
        using var named = await SendAsync(server, HttpMethod.Get, "/api/peers", Reader, null);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, named.StatusCode);
    }

    [Theory]
    [InlineData("", "abc", "peers:read", "Name is required")]
    [InlineData("x", "abc", "peers:read", "Sha256 must be the token's SHA-256")]
    [InlineData("x", null, "peers:delete", "'peers:delete' is not a scope")]
    public async Task A_bad_named_token_stops_the_start_naming_what_is_wrong(string name, string? sha256, string scope, string words)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => ManagementServer.StartAsync(options =>
            options.ApiTokens.Add(new ApiTokenOptions { Name = name, Sha256 = sha256 ?? Sha256(Reader), Scopes = { scope } })));

        Assert.Contains("Management:ApiTokens:0", error.Message, StringComparison.Ordinal);
        Assert.Contains(words, error.Message, StringComparison.Ordinal);
    }

    private static string Sha256(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static async Task<HttpResponseMessage> SendAsync(ManagementServer server, HttpMethod method, string path, string token, object? body)
    {
        using var request = new HttpRequestMessage(method, path) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await server.Api.SendAsync(request);
    }
}
