namespace Reactive.Management.Hosting;

/// <summary>
/// One named API token (<c>Management:ApiTokens</c>): only the SHA-256 of the token is in configuration, and the token
/// may do what its <see cref="Scopes"/> say.
/// </summary>
public sealed class ApiTokenOptions
{
    /// <summary>The token's name, as a refusal (403) names it and jobs' <c>created_by</c> and <c>cancelled_by</c> show it.</summary>
    public string Name { get; set; } = "";

    /// <summary>The SHA-256 of the token's UTF-8 bytes, 64 hexadecimal digits (<c>printf %s "$TOKEN" | sha256sum</c>).</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>What it may do: any of <see cref="ApiScopes.All"/>.</summary>
    public IList<string> Scopes { get; init; } = [];
}

/// <summary>The scopes of the HTTP API.</summary>
public static class ApiScopes
{
    /// <summary>Read peers.</summary>
    public const string PeersRead = "peers:read";

    /// <summary>Register peers and change them.</summary>
    public const string PeersWrite = "peers:write";

    /// <summary>Read jobs and batches.</summary>
    public const string JobsRead = "jobs:read";

    /// <summary>Create and cancel jobs and batches.</summary>
    public const string JobsWrite = "jobs:write";

    /// <summary>Follow <c>GET /api/events</c>.</summary>
    public const string EventsRead = "events:read";

    /// <summary>Every scope (what <see cref="ManagementOptions.ApiToken"/> may do).</summary>
    public static IReadOnlyList<string> All { get; } = [PeersRead, PeersWrite, JobsRead, JobsWrite, EventsRead];
}
