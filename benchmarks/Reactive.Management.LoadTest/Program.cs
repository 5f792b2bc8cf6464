// The load tool: N real Job streams over loopback HTTP/2 against a running host (another process), then a measured
// window of heartbeats and jobs. See PERFORMANCE.md and benchmarks/load.sh.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Net.Client;
using Reactive.Management.Crypto;
using Reactive.Management.LoadTest;
using Reactive.Management.Protocol;

if (!LoadOptions.TryParse(args, out var options, out var exitCode))
{
    return exitCode;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

using var api = new HttpClient { BaseAddress = options.Api, Timeout = TimeSpan.FromSeconds(30) };
var server = options.ServerPid is { } pid ? new ServerProcess(pid, api) : null;
var connections = (options.Peers + options.StreamsPerConnection - 1) / options.StreamsPerConnection;
var sources = SourceAddresses.For(options.Target, connections, options.SourceAddresses);
var channels = Enumerable.Range(0, connections)
    .Select(i => GrpcChannel.ForAddress(options.Target, new GrpcChannelOptions { HttpHandler = SourceAddresses.Handler(sources, i) }))
    .ToList();
var clients = channels.Select(channel => new ManagementService.ManagementServiceClient(channel)).ToList();
var serverKey = WireGuardPublicKey.Parse((await clients[0].GetServerKeyAsync(new Empty())).Key);
var recorder = new Recorder();

Console.WriteLine($"load: {options.Peers} peers on {connections} HTTP/2 connection(s) from {(sources.Count == 0 ? "any source address" : $"{sources.Count} source address(es)")} to {options.Target}; heartbeat {options.HeartbeatInterval.TotalSeconds} s; {options.JobsPerSecond} jobs/s for {options.Duration.TotalSeconds} s");
var rssBefore = server?.ResidentBytes();
var heapBefore = server is null ? null : await server.ManagedHeapBytesAsync();

// Ramp up at a steady rate, with a progress line. Opens overlap (a connection's TCP and HTTP/2 set-up is a few round
// trips): up to 64 at once, so the rate is the one asked for, not one connection's latency.
var peers = new PeerStream[options.Peers];
var ramp = Stopwatch.StartNew();
var lastProgress = TimeSpan.Zero;
var opened = 0;
using (var opening = new SemaphoreSlim(64))
{
    var opens = new List<Task>(options.Peers);
    for (var i = 0; i < options.Peers && !stop.IsCancellationRequested; i++)
    {
        var due = TimeSpan.FromSeconds((double)i / options.RampPerSecond);
        if (due > ramp.Elapsed)
        {
            await Task.Delay(due - ramp.Elapsed);
        }

        await opening.WaitAsync();
        var index = i;
        opens.Add(Task.Run(async () =>
        {
            try
            {
                peers[index] = await PeerStream.OpenAsync(clients[index % clients.Count], serverKey, recorder, options.HeartbeatInterval, stop.Token);
                Interlocked.Increment(ref opened);
            }
            finally
            {
                opening.Release();
            }
        }));
        if (ramp.Elapsed - lastProgress > TimeSpan.FromMilliseconds(500))
        {
            lastProgress = ramp.Elapsed;
            var rss = server is null ? "" : $", server RSS {server.ResidentBytes() / 1048576.0:F0} MiB";
            Console.Error.Write($"\rramp-up: {Volatile.Read(ref opened)}/{options.Peers} streams open ({Volatile.Read(ref opened) / Math.Max(ramp.Elapsed.TotalSeconds, 0.001):F0}/s){rss}   ");
        }
    }

    await Task.WhenAll(opens);
    Console.Error.Write($"\rramp-up: {opened}/{options.Peers} streams open in {ramp.Elapsed.TotalSeconds:F1} s   ");
}

Console.Error.WriteLine();
// Let the last streams settle (handshake done, first heartbeat due) before measuring.
await Task.Delay(options.HeartbeatInterval + TimeSpan.FromSeconds(1));
var peerIds = options.JobsPerSecond > 0 || options.Batch ? await PeerIdsAsync(api, [.. peers]) : [];
var rssConnected = server?.ResidentBytes();
var heapConnected = server is null ? null : await server.ManagedHeapBytesAsync();

var cpuBefore = server?.CpuTime();
var ownCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
// The tool's own GC pauses stop its receive path: reported, so a peer-side tail can be told from the server's.
var ownPauseBefore = GC.GetTotalPauseDuration();
var ownCollectionsBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
const string Lateness = "reactive_management_heartbeat_lateness_milliseconds";
const string Handover = "reactive_management_job_handover_milliseconds";
var latenessBefore = server is null ? null : await server.HistogramAsync(Lateness);
var handoverBefore = server is null ? null : await server.HistogramAsync(Handover);
var writtenBefore = server is null ? 0 : await server.CounterAsync("reactive_management_heartbeats_sent_total");
var skippedBefore = server is null ? 0 : await server.CounterAsync("reactive_management_heartbeats_skipped_total");
const string ServerGcPause = "dotnet_gc_pause_time_seconds_total";
var serverPauseBefore = server is null ? 0 : await server.CounterAsync(ServerGcPause);
var window = Stopwatch.StartNew();
recorder.StartMeasuring();
var created = new System.Collections.Concurrent.ConcurrentDictionary<Guid, long>();
var createFailures = 0;
var creating = new List<Task>();
var batches = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
BatchRun? batchRun = null;
if (options.Batch && peerIds.Count > 0)
{
    batchRun = await BatchRun.RunAsync(api, peerIds, options.MaxInFlight, options.Duration, stop.Token);
    foreach (var (jobId, started) in await BatchRun.JobIdsAsync(api, batchRun.BatchId, batchRun.Started))
    {
        created[jobId] = started;
    }
}
else if (options.JobsPerSecond > 0 && peerIds.Count > 0 && options.FanOut)
{
    // Every 100 ms one batch over a tenth of the rate's peers (distinct within a batch); its jobs' ids are read after the window.
    var random = new Random(42);
    var perBatch = Math.Max(1, (int)Math.Round(options.JobsPerSecond / 10));
    for (var n = 0; window.Elapsed < options.Duration && !stop.IsCancellationRequested; n++)
    {
        var due = TimeSpan.FromMilliseconds(100 * n);
        if (due > window.Elapsed)
        {
            await Task.Delay(due - window.Elapsed);
        }

        var chosen = peerIds.OrderBy(_ => random.Next()).Take(Math.Min(perBatch, peerIds.Count)).ToList();
        creating.Add(Task.Run(async () =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await api.PostAsJsonAsync("/api/jobs", new { peer_ids = chosen, workload = new { type = "bundle" }, max_in_flight = options.MaxInFlight });
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    Interlocked.Add(ref createFailures, chosen.Count);
                    return;
                }

                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                batches[body.RootElement.GetProperty("id").GetString()!] = started;
            }
            catch (HttpRequestException)
            {
                Interlocked.Add(ref createFailures, chosen.Count);
            }
        }));
    }

    await Task.WhenAll(creating);
    foreach (var (batchId, started) in batches)
    {
        foreach (var (jobId, _) in await BatchRun.JobIdsAsync(api, batchId, started))
        {
            created[jobId] = started;
        }
    }
}
else if (options.JobsPerSecond > 0 && peerIds.Count > 0)
{
    var random = new Random(42);
    using var inFlight = new SemaphoreSlim(256);
    for (var n = 0; window.Elapsed < options.Duration && !stop.IsCancellationRequested; n++)
    {
        var due = TimeSpan.FromSeconds(n / options.JobsPerSecond);
        if (due > window.Elapsed)
        {
            await Task.Delay(due - window.Elapsed);
        }

        await inFlight.WaitAsync();
        var peerId = peerIds[random.Next(peerIds.Count)];
        creating.Add(Task.Run(async () =>
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref createFailures);
                    return;
                }

                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                created[Guid.Parse(body.RootElement.GetProperty("id").GetString()!)] = started;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref createFailures);
            }
            finally
            {
                inFlight.Release();
            }
        }));
    }

    await Task.WhenAll(creating);
}
else
{
    await Task.Delay(options.Duration, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
}

var measured = window.Elapsed;
var cpuAfter = server?.CpuTime();
var ownCpuAfter = Process.GetCurrentProcess().TotalProcessorTime;
var ownPause = GC.GetTotalPauseDuration() - ownPauseBefore;
var ownCollections = (GC.CollectionCount(0) - ownCollectionsBefore.Item1, GC.CollectionCount(1) - ownCollectionsBefore.Item2, GC.CollectionCount(2) - ownCollectionsBefore.Item3);
var latenessAfter = server is null ? null : await server.HistogramAsync(Lateness);
var handoverAfter = server is null ? null : await server.HistogramAsync(Handover);
var writtenAfter = server is null ? 0 : await server.CounterAsync("reactive_management_heartbeats_sent_total");
var skippedAfter = server is null ? 0 : await server.CounterAsync("reactive_management_heartbeats_skipped_total");
var serverPause = server is null ? 0 : await server.CounterAsync(ServerGcPause) - serverPauseBefore;
recorder.StopMeasuring();
// Jobs created near the end get a moment to arrive.
await Task.Delay(TimeSpan.FromSeconds(1));
var rssAfter = server?.ResidentBytes();
var heapAfter = server is null ? null : await server.ManagedHeapBytesAsync();

// The listing of every peer with its stream (what the console reads every 5 s), after the window: five reads.
var listings = new List<double>();
var listingBytes = 0;
for (var i = 0; i < 5; i++)
{
    var started = Stopwatch.GetTimestamp();
    listingBytes = (await api.GetByteArrayAsync("/api/peers")).Length;
    listings.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
}

var latencies = created
    .Select(job => recorder.JobArrivals.TryGetValue(job.Key, out var arrived) ? Stopwatch.GetElapsedTime(job.Value, arrived).TotalMilliseconds : (double?)null)
    .ToList();
var arrivedLatencies = latencies.Where(latency => latency is not null).Select(latency => latency!.Value).ToList();

string Mib(long? bytes) => bytes is null ? "n/a" : (bytes.Value / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
string PerPeer(long? before, long? after) => before is null || after is null ? "n/a" : ((after.Value - before.Value) / 1024.0 / options.Peers).ToString("F1", CultureInfo.InvariantCulture) + " KiB";
Console.WriteLine();
Console.WriteLine($"| measure | value |");
Console.WriteLine($"|---|---|");
Console.WriteLine($"| peers connected (streams lost) | {opened} ({recorder.Lost}) |");
Console.WriteLine($"| server RSS: no peers → all connected (→ end of run) | {Mib(rssBefore)} → {Mib(rssConnected)} ({PerPeer(rssBefore, rssConnected)} per peer) (→ {Mib(rssAfter)}) |");
Console.WriteLine($"| server managed heap after its last GC: no peers → all connected (→ end) | {Mib(heapBefore)} → {Mib(heapConnected)} ({PerPeer(heapBefore, heapConnected)} per peer) (→ {Mib(heapAfter)}) |");
Console.WriteLine($"| server CPU while measuring | {(cpuBefore is null ? "n/a" : ((cpuAfter!.Value - cpuBefore.Value).TotalSeconds / measured.TotalSeconds).ToString("F2", CultureInfo.InvariantCulture) + " cores")} |");
Console.WriteLine($"| load tool CPU (same machine) | {(ownCpuAfter - ownCpuBefore).TotalSeconds / measured.TotalSeconds:F2} cores |");
if (serverPause > 0)
{
    Console.WriteLine($"| server GC pauses while measuring (its /metrics) | {serverPause * 1000:F0} ms |");
}

Console.WriteLine($"| load tool GC while measuring: gen0 / gen1 / gen2 collections, total pause | {ownCollections.Item1} / {ownCollections.Item2} / {ownCollections.Item3}, {ownPause.TotalMilliseconds:F0} ms |");
if (latenessBefore is not null)
{
    Console.WriteLine($"| heartbeat lateness at the server's write, p50 / p99 | {ServerProcess.Percentile(latenessBefore, latenessAfter!, 50)} / {ServerProcess.Percentile(latenessBefore, latenessAfter!, 99)} ms |");
}

Console.WriteLine($"| heartbeats written by the server (skipped: a write was pending) | {(writtenAfter - writtenBefore) / measured.TotalSeconds:F0}/s ({(skippedAfter - skippedBefore) / measured.TotalSeconds:F0}/s) |");
Console.WriteLine($"| listing every peer (GET /api/peers, {listingBytes / 1048576.0:F1} MiB), five reads after the window: p50 / max | {Recorder.Percentile(listings, 50):F0} / {Recorder.Percentile(listings, 100):F0} ms |");
Console.WriteLine($"| heartbeats received | {recorder.Heartbeats / measured.TotalSeconds:F0}/s (expected {options.Peers / options.HeartbeatInterval.TotalSeconds:F0}/s) |");
Console.WriteLine($"| heartbeat lateness at the peer, p50 / p99 / max | {Recorder.Percentile(recorder.LatenessMs, 50):F1} / {Recorder.Percentile(recorder.LatenessMs, 99):F1} / {Recorder.Percentile(recorder.LatenessMs, 100):F1} ms ({recorder.LatenessMs.Count} judged) |");
if (batchRun is not null)
{
    Console.WriteLine($"| batch to every peer (max_in_flight {options.MaxInFlight?.ToString(CultureInfo.InvariantCulture) ?? "none"}): created in | {batchRun.CreatedMs:F0} ms (201) |");
    Console.WriteLine($"| batch: all answered in | {batchRun.FinishedMs:F0} ms ({batchRun.Succeeded} succeeded, {batchRun.Unfinished} unfinished) |");
    Console.WriteLine($"| batch: most sent at once (store, sampled every 20 ms) | {batchRun.MostSent} |");
}

if (options.JobsPerSecond > 0 || batchRun is not null)
{
    Console.WriteLine($"| jobs created / received (create failures) | {created.Count} / {arrivedLatencies.Count} ({createFailures}), {created.Count / measured.TotalSeconds:F0}/s |");
    if (handoverBefore is not null)
    {
        Console.WriteLine($"| job creation → hand-over to the stream at the server, p50 / p99 | {ServerProcess.Percentile(handoverBefore, handoverAfter!, 50)} / {ServerProcess.Percentile(handoverBefore, handoverAfter!, 99)} ms |");
    }

    Console.WriteLine($"| job create → received p50 / p99 / max | {Recorder.Percentile(arrivedLatencies, 50):F1} / {Recorder.Percentile(arrivedLatencies, 99):F1} / {Recorder.Percentile(arrivedLatencies, 100):F1} ms |");
}

if (options.GcDump is not null && options.ServerPid is { } dumped)
{
    // Collected while every stream is still open; it forces a full GC in the server, so only after the window.
    using var gcdump = Process.Start("dotnet", ["dotnet-gcdump", "collect", "-p", dumped.ToString(CultureInfo.InvariantCulture), "-o", options.GcDump.FullName]);
    await gcdump.WaitForExitAsync();
    Console.WriteLine(gcdump.ExitCode == 0 ? $"heap snapshot: {options.GcDump.FullName} (dotnet dotnet-gcdump report {options.GcDump.FullName})" : "heap snapshot failed (dotnet tool restore?)");
}

double? PerPeerKiB(long? before, long? after) => before is null || after is null ? null : (after.Value - before.Value) / 1024.0 / options.Peers;
double? Judged(double percentile) => recorder.LatenessMs.Count == 0 ? null : Recorder.Percentile(recorder.LatenessMs, percentile);
if (options.Summary is not null)
{
    new RunSummary(
        options.Label,
        options.Peers,
        options.StreamsPerConnection,
        options.HeartbeatInterval.TotalSeconds,
        recorder.Lost,
        PerPeerKiB(rssBefore, rssConnected),
        PerPeerKiB(rssBefore, rssAfter),
        PerPeerKiB(heapBefore, heapConnected),
        cpuBefore is null ? null : (cpuAfter!.Value - cpuBefore.Value).TotalSeconds / measured.TotalSeconds,
        serverPause > 0 ? serverPause * 1000 : null,
        (ownCpuAfter - ownCpuBefore).TotalSeconds / measured.TotalSeconds,
        ownPause.TotalMilliseconds,
        recorder.Heartbeats / measured.TotalSeconds,
        options.Peers / options.HeartbeatInterval.TotalSeconds,
        Judged(50),
        Judged(99),
        Judged(100)).AppendTo(options.Summary);
}

await stop.CancelAsync();
foreach (var peer in peers)
{
    peer?.Dispose();
}

foreach (var channel in channels)
{
    channel.Dispose();
}

// A hold-only server sends no heartbeat: then only the streams count.
return opened == options.Peers && recorder.Lost == 0 && (recorder.Heartbeats > 0 || options.Label == Comparison.Bare) ? 0 : 1;

static async Task<List<string>> PeerIdsAsync(HttpClient api, List<PeerStream> peers)
{
    // The host registers the load peers itself (AcceptUnknownPeers); the API names their ids.
    var keys = peers.Select(peer => peer.Key.ToString()).ToHashSet();
    using var listing = JsonDocument.Parse(await api.GetStringAsync(new Uri("/api/peers", UriKind.Relative)));
    return listing.RootElement.EnumerateArray()
        .Where(peer => keys.Contains(peer.GetProperty("wg_pub_key").GetString()!))
        .Select(peer => peer.GetProperty("id").GetString()!)
        .ToList();
}
