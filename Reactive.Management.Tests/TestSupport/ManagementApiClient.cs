using System.Net.Http.Json;
using System.Text.Json;
using Reactive.Management.Crypto;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>Calls of the HTTP API that tests make against any host (in process or a child process).</summary>
internal static class ManagementApiClient
{
    /// <summary>Registers the peer through <c>POST /api/peers</c> and returns its id.</summary>
    public static async Task<string> RegisterPeerAsync(this HttpClient api, WireGuardKeyPair peer, string name)
    {
        using var response = await api.PostAsJsonAsync("/api/peers", new { wg_pub_key = peer.PublicKey.ToString(), name });
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>Creates a bundle job for the peer through <c>POST /api/peers/{id}/jobs</c> and returns its id.</summary>
    public static async Task<string> CreateJobAsync(this HttpClient api, string peerId)
    {
        using var response = await api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetString()!;
    }
}
