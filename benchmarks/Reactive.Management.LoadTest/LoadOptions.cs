using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Reactive.Management.LoadTest;

/// <summary>What the load run does; every value has a default and a command-line flag (<c>--help</c> lists them).</summary>
internal sealed record LoadOptions(
    Uri Target,
    Uri Api,
    int Peers,
    int StreamsPerConnection,
    TimeSpan HeartbeatInterval,
    double JobsPerSecond,
    TimeSpan Duration,
    int RampPerSecond,
    int? ServerPid)
{
    private static readonly Option<Uri> TargetOption = new("--target") { Description = "gRPC endpoint", DefaultValueFactory = _ => new Uri("http://127.0.0.1:33073") };
    private static readonly Option<Uri> ApiOption = new("--api") { Description = "HTTP API endpoint", DefaultValueFactory = _ => new Uri("http://127.0.0.1:33071") };
    private static readonly Option<int> PeersOption = Positive("--peers", "Job streams to open", 1000);
    private static readonly Option<int> StreamsPerConnectionOption = Positive("--streams-per-connection", "streams sharing one HTTP/2 connection (Kestrel allows 100)", 100);
    private static readonly Option<double> HeartbeatOption = NotNegative("--heartbeat", "the host's Management:HeartbeatInterval in seconds, to judge lateness", 1);
    private static readonly Option<double> JobsPerSecondOption = NotNegative("--jobs-per-second", "jobs created through the API while measuring", 0);
    private static readonly Option<double> DurationOption = NotNegative("--duration", "seconds to measure once every stream is open", 30);
    private static readonly Option<int> RampPerSecondOption = Positive("--ramp-per-second", "streams opened per second while ramping up", 2000);
    private static readonly Option<int?> ServerPidOption = new("--server-pid") { Description = "the host's process, for its memory and CPU (/proc); without it they are not reported" };

    /// <summary>Reads the command line; on <c>--help</c> or a bad value System.CommandLine has printed what to print.</summary>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out LoadOptions? options, out int exitCode)
    {
        var command = new RootCommand("N real Job streams against a running host (see benchmarks/load.sh)")
        {
            TargetOption, ApiOption, PeersOption, StreamsPerConnectionOption, HeartbeatOption, JobsPerSecondOption, DurationOption, RampPerSecondOption, ServerPidOption,
        };
        var parsed = command.Parse(args);
        if (parsed.Errors.Count > 0 || parsed.Action is not null)
        {
            options = null;
            exitCode = parsed.Invoke();
            return false;
        }

        options = new LoadOptions(
            parsed.GetValue(TargetOption)!,
            parsed.GetValue(ApiOption)!,
            parsed.GetValue(PeersOption),
            parsed.GetValue(StreamsPerConnectionOption),
            TimeSpan.FromSeconds(parsed.GetValue(HeartbeatOption)),
            parsed.GetValue(JobsPerSecondOption),
            TimeSpan.FromSeconds(parsed.GetValue(DurationOption)),
            parsed.GetValue(RampPerSecondOption),
            parsed.GetValue(ServerPidOption));
        exitCode = 0;
        return true;
    }

    private static Option<int> Positive(string name, string description, int fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = result => int.TryParse(result.Tokens.Single().Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : Refuse<int>(result, "a positive whole number"),
    };

    private static Option<double> NotNegative(string name, string description, double fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = result => double.TryParse(result.Tokens.Single().Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0
            ? number
            : Refuse<double>(result, "a number ≥ 0"),
    };

    private static T Refuse<T>(ArgumentResult result, string expected)
    {
        result.AddError($"must be {expected}; got '{result.Tokens.Single().Value}'");
        return default!;
    }
}
