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
    int? ServerPid,
    int SourceAddresses,
    string Label,
    FileInfo? Summary,
    FileInfo? GcDump,
    bool FanOut,
    bool Batch,
    int? MaxInFlight)
{
    private static readonly Option<Uri> TargetOption = new("--target") { Description = "gRPC endpoint", DefaultValueFactory = _ => new Uri("http://127.0.0.1:33073") };
    private static readonly Option<Uri> ApiOption = new("--api") { Description = "HTTP API endpoint", DefaultValueFactory = _ => new Uri("http://127.0.0.1:33071") };
    private static readonly Option<int> PeersOption = Positive("--peers", "Job streams to open", 1000);
    private static readonly Option<int> StreamsPerConnectionOption = Positive("--streams-per-connection", "streams sharing one HTTP/2 connection: 1 (default) as real peers, each with its own; Kestrel allows 100", 1);
    private static readonly Option<double> HeartbeatOption = NotNegative("--heartbeat", "the host's Management:HeartbeatInterval in seconds, to judge lateness", 1);
    private static readonly Option<double> JobsPerSecondOption = NotNegative("--jobs-per-second", "jobs created through the API while measuring", 0);
    private static readonly Option<double> DurationOption = NotNegative("--duration", "seconds to measure once every stream is open", 30);
    private static readonly Option<int> RampPerSecondOption = Positive("--ramp-per-second", "streams opened per second while ramping up", 2000);
    private static readonly Option<int?> ServerPidOption = new("--server-pid") { Description = "the host's process, for its memory and CPU (/proc); without it they are not reported" };
    private static readonly Option<int> SourceAddressesOption = new("--source-addresses")
    {
        Description = "loopback source addresses to spread the connections over (127.0.0.2, 127.0.0.3, …; one address has ~28,000 ephemeral ports); 0 (default) = one per 20,000 connections",
        DefaultValueFactory = _ => 0,
    };
    private static readonly Option<string> LabelOption = new("--label") { Description = "the server's name in --summary", DefaultValueFactory = _ => "host" };
    private static readonly Option<FileInfo?> SummaryOption = new("--summary") { Description = "appends the run's figures to this file as one JSON line (load.sh --compare reads them)" };
    private static readonly Option<FileInfo?> GcDumpOption = new("--gcdump") { Description = "at the end of the window, a heap snapshot of the server to this file (dotnet-gcdump, the repository's local tool)" };
    private static readonly Option<bool> FanOutOption = new("--fan-out") { Description = "create the --jobs-per-second through POST /api/jobs: every 100 ms one batch over that many distinct peers" };
    private static readonly Option<bool> BatchOption = new("--batch") { Description = "instead of a window of --jobs-per-second: one fan-out batch to every peer once all are connected; reports the time until all are answered and the most sent at once (sampled from the store through GET /api/batches/{id})" };
    private static readonly Option<int?> MaxInFlightOption = new("--max-in-flight") { Description = "the max_in_flight of --fan-out and --batch batches (default: no cap)" };
    private static readonly Argument<FileInfo> HellosOutArgument = new("file") { Description = "where to write the hellos" };
    private static readonly Argument<FileInfo> SummariesArgument = new("summaries") { Description = "the file --summary wrote, one line per server" };

    /// <summary>Reads the command line; on <c>--help</c> or a bad value System.CommandLine has printed what to print.</summary>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out LoadOptions? options, out int exitCode)
    {
        var hellos = new Command("hellos", "writes N sealed hellos (new peer keys, the target's server key), one gRPC-framed message per line in base64, for a non-.NET client (benchmarks/peer-check.mjs)") { TargetOption, PeersOption, HellosOutArgument };
        hellos.SetAction(result => SealedHellos.WriteAsync(result.GetValue(TargetOption)!, result.GetValue(PeersOption), result.GetValue(HellosOutArgument)!));
        var clients = new Option<int>("--clients")
        {
            Description = "API clients, each on its own keep-alive connection",
            DefaultValueFactory = _ => 64,
        };
        var create = new Command("create", "durable job creation through the HTTP API, flat out: --clients clients for --duration seconds over --peers registered (not connected) peers")
        {
            ApiOption, clients, PeersOption, DurationOption, ServerPidOption,
        };
        create.SetAction(result => ApiCreation.RunAsync(
            result.GetValue(ApiOption)!, result.GetValue(clients), result.GetValue(PeersOption), TimeSpan.FromSeconds(result.GetValue(DurationOption)), result.GetValue(ServerPidOption)));
        var sseClients = new Option<int>("--sse-clients") { Description = "clients following GET /api/events", DefaultValueFactory = _ => 100 };
        var creators = new Option<int>("--creators") { Description = "API clients creating jobs flat out", DefaultValueFactory = _ => 16 };
        var webhookPort = new Option<int?>("--webhook-port") { Description = "also receive the host's webhook on this port (the host must be configured to send every event to http://127.0.0.1:PORT/hook)" };
        var events = new Command("events", "events a host pushes: --sse-clients follow /api/events while --creators create jobs for --duration seconds")
        {
            ApiOption, sseClients, creators, DurationOption, webhookPort,
        };
        events.SetAction(result => EventsRun.RunAsync(
            result.GetValue(ApiOption)!, result.GetValue(sseClients), result.GetValue(creators), TimeSpan.FromSeconds(result.GetValue(DurationOption)), result.GetValue(webhookPort)));
        var compare = new Command("compare", "prints one table of the runs in a --summary file, with ratios to the baselines") { SummariesArgument };
        compare.SetAction(result => Comparison.Print(result.GetValue(SummariesArgument)!));
        var command = new RootCommand("N real Job streams against a running host (see benchmarks/load.sh)")
        {
            TargetOption, ApiOption, PeersOption, StreamsPerConnectionOption, HeartbeatOption, JobsPerSecondOption, DurationOption, RampPerSecondOption, ServerPidOption,
            SourceAddressesOption, LabelOption, SummaryOption, GcDumpOption, FanOutOption, BatchOption, MaxInFlightOption, compare, hellos, create, events,
        };
        // The run itself is the program's; the root action only tells it apart from help and 'compare'.
        command.SetAction(_ => 0);
        var parsed = command.Parse(args);
        if (parsed.Errors.Count > 0 || parsed.Action != command.Action)
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
            parsed.GetValue(ServerPidOption),
            parsed.GetValue(SourceAddressesOption),
            parsed.GetValue(LabelOption)!,
            parsed.GetValue(SummaryOption),
            parsed.GetValue(GcDumpOption),
            parsed.GetValue(FanOutOption),
            parsed.GetValue(BatchOption),
            parsed.GetValue(MaxInFlightOption));
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
