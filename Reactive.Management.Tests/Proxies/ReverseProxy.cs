using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Reactive.Management.Tests.TestSupport;

namespace Reactive.Management.Tests.Proxies;

/// <summary>
/// A real reverse proxy process on a loopback port chosen at run time, configured from the repo's template
/// (samples/behind-proxy), forwarding to the management server. Disposing stops it, also when a test failed.
/// </summary>
internal sealed class ReverseProxy : IAsyncDisposable
{
    private readonly ProxyKind _kind;
    private readonly string _config;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private ReverseProxy(ProxyKind kind, string folder, string config, int port)
    {
        _kind = kind;
        Folder = folder;
        _config = config;
        Port = port;
    }

    public int Port { get; }

    public string Folder { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>What the proxy printed, and its error log where it keeps one (nginx), for failure messages.</summary>
    public string Output
    {
        get
        {
            var errorLog = Path.Combine(Folder, "nginx-error.log");
            var logged = File.Exists(errorLog) ? "\n" + File.ReadAllText(errorLog) : "";
            lock (_output)
            {
                return _output + logged;
            }
        }
    }

    /// <param name="kind">Which proxy.</param>
    /// <param name="upstreamPort">The management server's port.</param>
    /// <param name="timeout">The proxy's idle timeout.</param>
    /// <param name="template">Another template than the kind's own (e.g. <c>haproxy-replicas.cfg.template</c>).</param>
    /// <param name="secondUpstreamPort">A second replica's port, for templates with two upstreams.</param>
    public static async Task<ReverseProxy> StartAsync(ProxyKind kind, int upstreamPort, TimeSpan timeout, string? template = null, int? secondUpstreamPort = null, int? apiUpstreamPort = null)
    {
        if (kind.Find() is null)
        {
            throw new InvalidOperationException($"{kind.Binary()} is not installed; CI installs it with .ci/install-proxies.sh.");
        }

        var folder = Directory.CreateTempSubdirectory($"reactive-management-{kind.Binary()}-").FullName;
        var port = LoopbackPorts.Free();
        template ??= kind.Template();
        var text = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Proxies", "Templates", template));
        var config = Path.Combine(folder, template.Replace(".template", "", StringComparison.Ordinal));
        await File.WriteAllTextAsync(config, text
            .Replace("{{API_UPSTREAM_PORT}}", (apiUpstreamPort ?? upstreamPort).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{UPSTREAM_PORT_2}}", secondUpstreamPort?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "", StringComparison.Ordinal)
            .Replace("{{LISTEN_PORT}}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{UPSTREAM_PORT}}", upstreamPort.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{TIMEOUT_SECONDS}}", timeout.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{{RUN_DIR}}", folder, StringComparison.Ordinal));
        var proxy = new ReverseProxy(kind, folder, config, port);
        await proxy.RestartAsync();
        return proxy;
    }

    /// <summary>Starts the proxy process (again, on the same port) and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        var start = new ProcessStartInfo(_kind.Find()!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Folder,
        };
        foreach (var argument in Arguments())
        {
            start.ArgumentList.Add(argument);
        }

        // Caddy keeps state under HOME and XDG folders: keep it inside this run's folder.
        start.Environment["HOME"] = Folder;
        start.Environment["XDG_DATA_HOME"] = Folder;
        start.Environment["XDG_CONFIG_HOME"] = Folder;
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!await AcceptsAsync())
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{_kind.Binary()} exited with {process.ExitCode} at start:\n{Output}");
            }

            try
            {
                await Task.Delay(50, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{_kind.Binary()} did not listen on {Port} within 15 s:\n{Output}");
            }
        }
    }

    /// <summary>Kills the proxy process: every connection through it is cut at once.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A worker still closing a log file; temp is cleaned by the OS.
        }
    }

    private string[] Arguments() => _kind switch
    {
        ProxyKind.Nginx => ["-c", _config, "-p", Folder, "-e", Path.Combine(Folder, "nginx-error.log")],
        ProxyKind.Haproxy => ["-db", "-f", _config],
        ProxyKind.Caddy => ["run", "--config", _config, "--adapter", "caddyfile"],
        _ => throw new ArgumentOutOfRangeException(nameof(_kind)),
    };

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private async Task<bool> AcceptsAsync()
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
