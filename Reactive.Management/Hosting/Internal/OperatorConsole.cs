using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Reactive.Management.Hosting.Api;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// The operator console: three static files embedded in this assembly (no build step, nothing from a CDN), served at
/// <c>/</c> and <c>/console/…</c>. The page holds no secret; it asks for the API token when the server says in the
/// page that this browser needs one, or when the API answers 401.
/// </summary>
internal static class OperatorConsole
{
    // Only this server's own files and API: no inline script or style, no other origin.
    private const string ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly (string Route, string Resource, string ContentType)[] Assets =
    [
        ("/console/console.js", "console/console.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "console/console.css", "text/css; charset=utf-8"),
    ];

    public static IEndpointConventionBuilder[] Map(IEndpointRouteBuilder endpoints)
    {
        // The page says whether the API needs a token from this browser, so that it asks first instead of meeting a
        // 401 (which the browser would show as an error): two variants, made once.
        var page = Encoding.UTF8.GetString(Read("console/index.html"));
        var asking = Encoding.UTF8.GetBytes(page.Replace("data-token=\"unknown\"", "data-token=\"required\"", StringComparison.Ordinal));
        var open = Encoding.UTF8.GetBytes(page.Replace("data-token=\"unknown\"", "data-token=\"not-required\"", StringComparison.Ordinal));
        return
        [
            endpoints.MapGet("/", (HttpContext http, ApiAccess access) =>
                Serve(http, access.Identify(http.Request) is null ? asking : open, "text/html; charset=utf-8")).ExcludeFromDescription(),
            .. Assets.Select(asset =>
            {
                var content = Read(asset.Resource);
                return endpoints.MapGet(asset.Route, (HttpContext http) => Serve(http, content, asset.ContentType)).ExcludeFromDescription();
            }),
        ];
    }

    private static IResult Serve(HttpContext http, byte[] content, string contentType)
    {
        http.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(content, contentType);
    }

    private static byte[] Read(string resource)
    {
        using var stream = typeof(OperatorConsole).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The console file '{resource}' is not embedded in {typeof(OperatorConsole).Assembly.GetName().Name}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
