using System.Globalization;

namespace Reactive.Management.LoadTest;

/// <summary>What the load run does; every value has a default and a command-line flag.</summary>
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
    public const string Usage = """
        usage: Reactive.Management.LoadTest [options]   (against a running host; see benchmarks/load.sh)
          --target URI                 gRPC endpoint (default http://127.0.0.1:33073)
          --api URI                    HTTP API endpoint (default http://127.0.0.1:33071)
          --peers N                    Job streams to open (default 1000)
          --streams-per-connection N   streams sharing one HTTP/2 connection (default 100; Kestrel allows 100)
          --heartbeat SECONDS          the host's Management:HeartbeatInterval, to judge lateness (default 1)
          --jobs-per-second R          jobs created through the API while measuring (default 0)
          --duration SECONDS           how long to measure once every stream is open (default 30)
          --ramp-per-second N          streams opened per second while ramping up (default 2000)
          --server-pid PID             the host's process, for its memory and CPU (/proc); without it they are not reported
        """;

    public static LoadOptions Parse(string[] args)
    {
        var options = new LoadOptions(new Uri("http://127.0.0.1:33073"), new Uri("http://127.0.0.1:33071"), 1000, 100, TimeSpan.FromSeconds(1), 0, TimeSpan.FromSeconds(30), 2000, null);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            options = name switch
            {
                "--target" => options with { Target = new Uri(value) },
                "--api" => options with { Api = new Uri(value) },
                "--peers" => options with { Peers = Positive(name, value) },
                "--streams-per-connection" => options with { StreamsPerConnection = Positive(name, value) },
                "--heartbeat" => options with { HeartbeatInterval = TimeSpan.FromSeconds(Number(name, value)) },
                "--jobs-per-second" => options with { JobsPerSecond = Number(name, value) },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Number(name, value)) },
                "--ramp-per-second" => options with { RampPerSecond = Positive(name, value) },
                "--server-pid" => options with { ServerPid = Positive(name, value) },
                _ => throw new ArgumentException($"unknown option {name}"),
            };
        }

        return options;
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"{name} must be a positive whole number; got '{value}'");

    private static double Number(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0
            ? number
            : throw new ArgumentException($"{name} must be a number ≥ 0; got '{value}'");
}
