using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Reactive.Management.LoadTest;

/// <summary>One run's figures, as one JSON line of a <c>--summary</c> file; null where the server does not say.</summary>
internal sealed record RunSummary(
    string Label,
    int Peers,
    int StreamsPerConnection,
    double HeartbeatSeconds,
    long Lost,
    double? RssPerPeerKiB,
    double? RssPerPeerEndKiB,
    double? HeapPerPeerKiB,
    double? ServerCores,
    double? ServerGcPauseMs,
    double ToolCores,
    double ToolGcPauseMs,
    double HeartbeatsPerSecond,
    double ExpectedHeartbeatsPerSecond,
    double? LatenessP50Ms,
    double? LatenessP99Ms,
    double? LatenessMaxMs)
{
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public void AppendTo(FileInfo file) => File.AppendAllText(file.FullName, JsonSerializer.Serialize(this, Json) + "\n");

    public static List<RunSummary> ReadAll(FileInfo file) =>
        [.. File.ReadLines(file.FullName).Where(line => line.Length > 0).Select(line => JsonSerializer.Deserialize<RunSummary>(line, Json)!)];
}

/// <summary>
/// The table <c>load.sh --compare</c> prints: one column per server in run order, then our host's ratio to the bare
/// hold-only server (memory) and to the #5185 port (CPU, lateness).
/// </summary>
internal static class Comparison
{
    public const string Bare = "bare";
    public const string Port = "port";
    public const string Ours = "ours";

    public static int Print(FileInfo file)
    {
        var runs = RunSummary.ReadAll(file);
        var byLabel = runs.ToDictionary(run => run.Label);
        var first = runs[0];
        Console.WriteLine($"{first.Peers:N0} peers, {first.StreamsPerConnection} stream(s) per HTTP/2 connection, heartbeat {first.HeartbeatSeconds} s; servers run one after another with the same tool and settings.");
        Console.WriteLine();
        Console.WriteLine($"| measure | {string.Join(" | ", runs.Select(run => Name(run.Label)))} | ours / bare | ours / port |");
        Console.WriteLine($"|---|{string.Concat(runs.Select(_ => "---|"))}---|---|");
        Row("streams lost", run => run.Lost, "F0");
        Row("server RSS per peer, all connected (KiB)", run => run.RssPerPeerKiB);
        Row("server RSS per peer, end of run (KiB)", run => run.RssPerPeerEndKiB);
        Row("server managed heap per peer (KiB)", run => run.HeapPerPeerKiB);
        Row("server CPU (cores)", run => run.ServerCores, "F3");
        Row("server GC pause while measuring (ms; our host's /metrics)", run => run.ServerGcPauseMs, "F0");
        Row("load tool CPU (cores)", run => run.ToolCores, "F2");
        Row("load tool GC pause while measuring (ms)", run => run.ToolGcPauseMs, "F0");
        Row("heartbeats received per second", run => run.HeartbeatsPerSecond, "F0");
        Row("heartbeat lateness at the peer p50 (ms)", run => run.LatenessP50Ms);
        Row("heartbeat lateness at the peer p99 (ms)", run => run.LatenessP99Ms);
        Row("heartbeat lateness at the peer max (ms)", run => run.LatenessMaxMs);
        return 0;

        void Row(string measure, Func<RunSummary, double?> value, string format = "F1")
        {
            string Cell(double? number) => number is null || double.IsNaN(number.Value) ? "–" : number.Value.ToString(format, CultureInfo.InvariantCulture);
            string Ratio(string baseline) =>
                byLabel.TryGetValue(Ours, out var ours) && byLabel.TryGetValue(baseline, out var other) && value(ours) is { } a && value(other) is { } b && b > 0 && !double.IsNaN(a)
                    ? (a / b).ToString("F2", CultureInfo.InvariantCulture)
                    : "–";
            Console.WriteLine($"| {measure} | {string.Join(" | ", runs.Select(run => Cell(value(run))))} | {Ratio(Bare)} | {Ratio(Port)} |");
        }
    }

    private static string Name(string label) => label switch
    {
        Bare => "bare grpc-dotnet, hold only",
        Port => "#5185 port (PeriodicTimer + Channel)",
        Ours => "Reactive.Management host",
        _ => label,
    };
}
