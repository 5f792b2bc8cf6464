using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Reactive.Management.Crypto;

namespace Reactive.Management.LoadTest;

/// <summary>
/// Durable job creation through the HTTP API, flat out: C clients, each on its own keep-alive connection, each sending
/// its next <c>POST /api/peers/{id}/jobs</c> as soon as the last one was answered (a 201 means the job is on disk).
/// The jobs' peers are registered and not connected: what is measured is creation, not delivery.
/// </summary>
internal static class ApiCreation
{
    /// <summary>Registers <paramref name="count"/> new peers (fresh keys, not connected) through the API; their ids.</summary>
    public static async Task<List<string>> RegisterPeersAsync(HttpClient admin, int count, string namePrefix)
    {
        var peerIds = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            using var key = WireGuardKeyPair.Generate();
            using var registered = await admin.PostAsJsonAsync("/api/peers", new { wg_pub_key = key.PublicKey.ToString(), name = $"{namePrefix}-{i}" });
            registered.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await registered.Content.ReadAsStringAsync());
            peerIds.Add(body.RootElement.GetProperty("id").GetString()!);
        }

        return peerIds;
    }

    public static async Task<int> RunAsync(Uri apiAddress, int clients, int peers, TimeSpan duration, int? serverPid)
    {
        using var admin = new HttpClient { BaseAddress = apiAddress };
        var peerIds = await RegisterPeersAsync(admin, peers, "create");

        var server = serverPid is { } pid ? new ServerProcess(pid, admin) : null;
        // One connection per client, kept alive: MaxConnectionsPerServer 1 and a handler of its own.
        var connections = Enumerable.Range(0, clients)
            .Select(_ => new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, PooledConnectionLifetime = Timeout.InfiniteTimeSpan }) { BaseAddress = apiAddress })
            .ToList();
        var latencies = new List<double>[clients];
        var failures = 0;
        // A short warm-up (JIT, pools, the file's first pages), not measured.
        await Task.WhenAll(connections.Select((client, i) => CreateUntilAsync(client, peerIds, i, Stopwatch.StartNew(), TimeSpan.FromSeconds(2), [], () => { })));
        var cpuBefore = server?.CpuTime();
        var ownCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var window = Stopwatch.StartNew();
        await Task.WhenAll(connections.Select((client, i) =>
        {
            latencies[i] = new List<double>(1 << 16);
            return CreateUntilAsync(client, peerIds, i, window, duration, latencies[i], () => Interlocked.Increment(ref failures));
        }));
        var measured = window.Elapsed;
        var cpuAfter = server?.CpuTime();
        var ownCpu = Process.GetCurrentProcess().TotalProcessorTime - ownCpuBefore;
        var all = latencies.SelectMany(list => list).ToList();
        Console.WriteLine($"| measure | value |");
        Console.WriteLine($"|---|---|");
        Console.WriteLine($"| clients (one keep-alive connection each), peers | {clients}, {peers} |");
        Console.WriteLine($"| jobs created (201, durable) | {all.Count} in {measured.TotalSeconds:F1} s: {all.Count / measured.TotalSeconds:F0}/s |");
        Console.WriteLine($"| failures (not 201) | {failures} |");
        Console.WriteLine($"| create latency p50 / p99 / max | {Recorder.Percentile(all, 50):F1} / {Recorder.Percentile(all, 99):F1} / {Recorder.Percentile(all, 100):F1} ms |");
        if (cpuBefore is not null)
        {
            Console.WriteLine($"| server CPU | {(cpuAfter!.Value - cpuBefore.Value).TotalSeconds / measured.TotalSeconds:F2} cores ({(cpuAfter!.Value - cpuBefore.Value).TotalMilliseconds * 1000 / Math.Max(1, all.Count):F0} µs a job) |");
        }

        Console.WriteLine($"| load tool CPU (same machine, {Environment.ProcessorCount} cores) | {ownCpu.TotalSeconds / measured.TotalSeconds:F2} cores |");

        foreach (var connection in connections)
        {
            connection.Dispose();
        }

        return failures == 0 && all.Count > 0 ? 0 : 1;
    }

    private static async Task CreateUntilAsync(HttpClient client, List<string> peerIds, int seed, Stopwatch window, TimeSpan duration, List<double> latencies, Action failed)
    {
        var random = new Random(seed);
        using var content = JsonContent.Create(new { workload = new { type = "bundle" } });
        await content.LoadIntoBufferAsync();
        while (window.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.PostAsync($"/api/peers/{peerIds[random.Next(peerIds.Count)]}/jobs", content);
            await response.Content.LoadIntoBufferAsync();
            if (response.StatusCode == HttpStatusCode.Created)
            {
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                failed();
            }
        }
    }
}
