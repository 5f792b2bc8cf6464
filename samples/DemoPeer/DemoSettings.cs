using System.Globalization;

namespace DemoPeer;

/// <summary>The demo peer's command line.</summary>
internal sealed record DemoSettings(Uri Management, Uri Api, string? KeyFile, string Name, TimeSpan? DemoJobAfter, TimeSpan Duration)
{
    public const string Usage =
        """
        usage: DemoPeer [--management URL] [--api URL] [--key-file PATH] [--name NAME]
                        [--demo-job-after SECONDS] [--duration SECONDS]
          --management      gRPC address of the management server (default http://127.0.0.1:33073)
          --api             HTTP API address (default http://127.0.0.1:33071)
          --key-file        WireGuard private key file; created if missing (default: a new key each run)
          --name            peer name to register (default demo-peer)
          --demo-job-after  after this many seconds, ask the server for a debug bundle from this peer
          --duration        stop after this many seconds (default 0: run until Ctrl+C)
        """;

    public static DemoSettings Parse(string[] args)
    {
        var settings = new DemoSettings(new Uri("http://127.0.0.1:33073"), new Uri("http://127.0.0.1:33071"), null, "demo-peer", null, TimeSpan.Zero);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            settings = name switch
            {
                "--management" => settings with { Management = ParseUri(name, value) },
                "--api" => settings with { Api = ParseUri(name, value) },
                "--key-file" => settings with { KeyFile = value },
                "--name" => settings with { Name = value },
                "--demo-job-after" => settings with { DemoJobAfter = ParseSeconds(name, value) },
                "--duration" => settings with { Duration = ParseSeconds(name, value) },
                _ => throw new ArgumentException($"Unknown option {name}."),
            };
        }

        return settings;
    }

    private static Uri ParseUri(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? uri
            : throw new ArgumentException($"{name} must be an http:// or https:// URL; got '{value}'.");

    private static TimeSpan ParseSeconds(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new ArgumentException($"{name} must be a number of seconds ≥ 0; got '{value}'.");
}
