using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace DemoPeer;

/// <summary>The demo peer's command line (System.CommandLine: <c>--help</c> lists it).</summary>
internal sealed record DemoSettings(Uri Management, Uri Api, string? KeyFile, string Name, TimeSpan? DemoJobAfter, TimeSpan Duration)
{
    private static readonly Option<Uri> ManagementOption = new("--management")
    {
        Description = "gRPC address of the management server",
        DefaultValueFactory = _ => new Uri("http://127.0.0.1:33073"),
        CustomParser = HttpUrl,
    };

    private static readonly Option<Uri> ApiOption = new("--api")
    {
        Description = "HTTP API address",
        DefaultValueFactory = _ => new Uri("http://127.0.0.1:33071"),
        CustomParser = HttpUrl,
    };

    private static readonly Option<string?> KeyFileOption = new("--key-file") { Description = "WireGuard private key file; created if missing (default: a new key each run)" };

    private static readonly Option<string> NameOption = new("--name") { Description = "peer name to register", DefaultValueFactory = _ => "demo-peer" };

    private static readonly Option<TimeSpan?> DemoJobAfterOption = new("--demo-job-after")
    {
        Description = "after this many seconds, ask the server for a debug bundle from this peer",
        CustomParser = result => Seconds(result),
    };

    private static readonly Option<TimeSpan?> DurationOption = new("--duration")
    {
        Description = "stop after this many seconds (0: run until Ctrl+C)",
        DefaultValueFactory = _ => TimeSpan.Zero,
        CustomParser = result => Seconds(result),
    };

    /// <summary>
    /// Reads the command line. On <c>--help</c>, <c>--version</c> or a bad value, System.CommandLine has printed what
    /// to print and <paramref name="exitCode"/> is the code to exit with.
    /// </summary>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out DemoSettings? settings, out int exitCode)
    {
        var command = new RootCommand("A demo peer for Reactive.Management: registers, keeps a Job stream, answers jobs.")
        {
            ManagementOption, ApiOption, KeyFileOption, NameOption, DemoJobAfterOption, DurationOption,
        };
        var parsed = command.Parse(args);
        if (parsed.Errors.Count > 0 || parsed.Action is not null)
        {
            settings = null;
            exitCode = parsed.Invoke();
            return false;
        }

        settings = new DemoSettings(
            parsed.GetValue(ManagementOption)!,
            parsed.GetValue(ApiOption)!,
            parsed.GetValue(KeyFileOption),
            parsed.GetValue(NameOption)!,
            parsed.GetValue(DemoJobAfterOption),
            parsed.GetValue(DurationOption) ?? TimeSpan.Zero);
        exitCode = 0;
        return true;
    }

    private static Uri HttpUrl(ArgumentResult result)
    {
        var value = result.Tokens.Single().Value;
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
        {
            return uri;
        }

        result.AddError($"must be an http:// or https:// URL; got '{value}'");
        return null!;
    }

    private static TimeSpan? Seconds(ArgumentResult result)
    {
        var value = result.Tokens.Single().Value;
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        result.AddError($"must be a number of seconds ≥ 0; got '{value}'");
        return null;
    }
}
