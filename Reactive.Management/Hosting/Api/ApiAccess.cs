using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Hosting.Api;

/// <summary>
/// Who may use the HTTP API: anyone while the host listens on loopback only and no token is configured; otherwise
/// only requests that carry the bearer token (<see cref="ManagementOptions.ApiToken"/>, or one generated at start).
/// </summary>
internal sealed class ApiAccess
{
    /// <summary>The shortest token accepted in configuration.</summary>

    private readonly ILogger<ApiAccess> _logger;
    private readonly IServer? _server;
    private readonly Lock _decision = new();
    private readonly IReadOnlyList<(string Name, byte[] Sha256, HashSet<string> Scopes)> _named;
    private byte[]? _token;
    private bool _decided;

    /// <summary>Creates the access rule; the configured token, if any, applies at once.</summary>
    /// <param name="options">The management options (<see cref="ManagementOptions.ApiToken"/>).</param>
    /// <param name="logger">Where a generated token is printed.</param>
    /// <param name="server">The server whose listening addresses decide whether a token is needed; null when none.</param>
    public ApiAccess(IOptions<ManagementOptions> options, ILogger<ApiAccess> logger, IServer? server = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _server = server;
        _named = [.. options.Value.ApiTokens.Select(named => (named.Name, Convert.FromHexString(named.Sha256), named.Scopes.ToHashSet(StringComparer.Ordinal)))];
        if (options.Value.ApiToken is { } configured)
        {
            _token = Encoding.UTF8.GetBytes(configured);
            _decided = true;
        }
        else if (_named.Count > 0)
        {
            // Named tokens are configured: the API is closed to everyone else, on loopback too.
            _decided = true;
        }
    }

    /// <summary>The caller with every scope: the open API (loopback, no token configured), or <see cref="ManagementOptions.ApiToken"/>.</summary>
    public static readonly ApiCaller Everyone = new("api", ApiScopes.All.ToHashSet(StringComparer.Ordinal));

    /// <summary>Who sends the request and what it may do; null when its token is missing or unknown.</summary>
    public ApiCaller? Identify(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        EnsureDecided();
        var token = Volatile.Read(ref _token);
        if (token is null && _named.Count == 0)
        {
            return Everyone;
        }

        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var presented = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        if (token is not null && CryptographicOperations.FixedTimeEquals(presented, token))
        {
            return Everyone;
        }

        // Every named token is compared (in fixed time), so the time taken tells nothing about which one nearly matched.
        var hash = SHA256.HashData(presented);
        ApiCaller? found = null;
        foreach (var (name, sha256, scopes) in _named)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, sha256))
            {
                found = new ApiCaller(name, scopes);
            }
        }

        return found;
    }

    /// <summary>
    /// Decides from the addresses the server listens on, once (at start, or at the first request if that comes
    /// sooner): beyond loopback with no configured token, a token is generated and printed once (log event 600),
    /// since nothing else would keep strangers out.
    /// </summary>
    public void EnsureDecided()
    {
        if (Volatile.Read(ref _decided))
        {
            return;
        }

        lock (_decision)
        {
            if (_decided)
            {
                return;
            }

            var addresses = _server?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            if (_server is not null && addresses.Count == 0)
            {
                // Not listening yet, so no request can have come: decide once the addresses are known.
                return;
            }

            var exposed = addresses.Where(address => !IsLoopback(address)).ToList();
            if (exposed.Count > 0)
            {
                var generated = Base64Url(RandomNumberGenerator.GetBytes(32));
                Volatile.Write(ref _token, Encoding.UTF8.GetBytes(generated));
                Log.ApiTokenGenerated(_logger, string.Join(", ", exposed), generated);
            }

            Volatile.Write(ref _decided, true);
        }
    }

    /// <summary>Whether the request may use the API at all.</summary>
    public bool IsAllowed(HttpRequest request) => Identify(request) is not null;

    /// <summary>Whether a Kestrel address (<c>http://127.0.0.1:5000</c>, <c>http://[::]:80</c>, <c>http://*:80</c>) is loopback only.</summary>
    internal static bool IsLoopback(string address)
    {
        var host = address;
        var scheme = host.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            host = host[(scheme + 3)..];
        }

        host = host.Split('/')[0];
        if (host.StartsWith('['))
        {
            host = host[1..host.IndexOf(']', StringComparison.Ordinal)];
        }
        else if (host.LastIndexOf(':') is var colon and > 0)
        {
            host = host[..colon];
        }

        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ||
            (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>A request's token: its name and scopes.</summary>
internal sealed record ApiCaller(string Name, IReadOnlySet<string> Scopes);

/// <summary>The scope a route needs (endpoint metadata, read by the API's access filter).</summary>
internal sealed record RequiredScope(string Scope);

/// <summary>
/// The JSON body a route reads (by hand, to answer bad bodies with problem details), for the OpenAPI document. Not
/// <c>Accepts</c> metadata: that would make routing refuse other content types before the route can explain.
/// </summary>
internal sealed record JsonRequestBody(Type Type);

/// <summary>A query parameter or header a route reads by hand, for the OpenAPI document.</summary>
internal sealed record ApiParameter(string Name, string Description, bool InHeader = false);
