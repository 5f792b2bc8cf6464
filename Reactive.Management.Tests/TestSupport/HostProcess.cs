using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Grpc.Net.Client;
using Reactive.Management.Protocol;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// The sample management host (<c>samples/ManagementHost</c>) run as a child process, as an operator runs it: its own
/// appsettings.json, data files in a folder the test gives, and a kill that is a real SIGKILL.
/// </summary>
internal sealed class HostProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<GrpcChannel> _channels = [];

    private HostProcess(Process process, Uri grpc, Uri api)
    {
        _process = process;
        Grpc = grpc;
        Api = new HttpClient { BaseAddress = api };
    }

    public static string HostDll { get; } = typeof(HostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "ManagementHostDll").Value!;

    /// <summary>The gRPC endpoint (HTTP/2 only, as configured in appsettings.json).</summary>
    public Uri Grpc { get; }

    /// <summary>The HTTP API endpoint (HTTP/1.1).</summary>
    public HttpClient Api { get; }

    /// <summary>Everything the host wrote, standard output and error, line by line.</summary>
    public IReadOnlyCollection<string> Output => _output;

    /// <summary>Completes with the exit code when the process ends.</summary>
    public Task<int> Exited { get; private set; } = null!;

    /// <summary>
    /// Starts the host with its data in <paramref name="folder"/>, listening on free loopback ports, with
    /// <paramref name="settings"/> (<c>Management:HeartbeatInterval=00:00:01</c>, …) added to its command line.
    /// </summary>
    public static HostProcess Start(string folder, params string[] settings)
    {
        var (grpcPort, apiPort) = (LoopbackPorts.Free(), LoopbackPorts.Free());
        var start = new ProcessStartInfo("dotnet")
        {
            // The content root is the build output, where appsettings.json is.
            WorkingDirectory = Path.GetDirectoryName(HostDll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(HostDll);
        foreach (var setting in new[]
                 {
                     $"Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpcPort}",
                     $"Kestrel:Endpoints:Api:Url=http://127.0.0.1:{apiPort}",
                     $"Management:ServerKeyPath={Path.Combine(folder, "management.key")}",
                     $"Management:SqlitePath={Path.Combine(folder, "management.db")}",
                 }.Concat(settings))
        {
            start.ArgumentList.Add("--" + setting);
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var process = Process.Start(start)!;
        var host = new HostProcess(process, new Uri($"http://127.0.0.1:{grpcPort}"), new Uri($"http://127.0.0.1:{apiPort}"));
        process.OutputDataReceived += (_, line) => host.Received(line.Data);
        process.ErrorDataReceived += (_, line) => host.Received(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        host.Exited = ExitedAsync(process);
        return host;
    }

    /// <summary>Waits until the host says it listens (Microsoft.Hosting.Lifetime), failing if it exits first.</summary>
    public async Task WaitUntilListeningAsync()
    {
        var first = await Task.WhenAny(_listening.Task, Exited).WaitAsync(StartPatience);
        if (first == Exited)
        {
            throw new InvalidOperationException($"The host exited with {await Exited} before listening:\n{string.Join('\n', _output)}");
        }
    }

    /// <summary>A gRPC client on a fresh connection.</summary>
    public ManagementService.ManagementServiceClient NewClient()
    {
        var channel = GrpcChannel.ForAddress(Grpc);
        _channels.Add(channel);
        return new ManagementService.ManagementServiceClient(channel);
    }

    /// <summary>SIGKILL: no shutdown, no flush, nothing the process could do about it.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await Exited.WaitAsync(StartPatience);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        Api.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await Exited.WaitAsync(StartPatience);
        _process.Dispose();
    }

    private static async Task<int> ExitedAsync(Process process)
    {
        await process.WaitForExitAsync();
        return process.ExitCode;
    }

    private void Received(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        if (line.Contains("Application started", StringComparison.Ordinal))
        {
            _listening.TrySetResult();
        }
    }
}
