// A demo peer: registers its key through the HTTP API, keeps a Job stream open with JobStreamClient (watchdog,
// re-dial, backoff), prints its connection states, every heartbeat and job it receives, and answers each job. With --demo-job-after it also asks the server (as an operator would)
// for a debug bundle from itself, and prints the job's outcome as the API reports it.
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using DemoPeer;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

if (!DemoSettings.TryParse(args, out var settings, out var exitCode))
{
    return exitCode;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
if (settings.Duration > TimeSpan.Zero)
{
    stop.CancelAfter(settings.Duration);
}

using var keys = PeerKeys.LoadOrGenerate(settings.KeyFile);
using var api = new HttpClient { BaseAddress = settings.Api };
Print($"peer key {keys.PublicKey}; management {settings.Management}, API {settings.Api}");

string peerId;
try
{
    peerId = await RegisterAsync(api, keys.PublicKey, settings.Name, stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Print("stopped before the management server answered");
    return 1;
}

Print($"registered as peer {peerId}");

// The client dials, watches for silence and re-dials by itself; the demo only listens and answers.
using var client = JobStreamClient.Create(settings.Management, keys);
using var stateLog = client.States.Subscribe(state => Print($"connection: {state}"));
using var heartbeatLog = client.Heartbeats.Subscribe(_ => Print($"heartbeat #{client.HeartbeatsReceived}"));
using var jobLog = client.Jobs.Subscribe(request =>
{
    var jobId = new Guid(request.ID.Span, bigEndian: true);
    Print($"job {jobId} received: debug bundle (log files {request.Bundle?.LogFileCount}, for {request.Bundle?.BundleForTime} min)");
    var answered = client.Answer(new JobResponse
    {
        ID = request.ID,
        Status = JobStatus.Succeeded,
        Bundle = new BundleResult { UploadKey = $"demo-uploads/{jobId:N}.zip" },
    });
    Print($"job {jobId} {(answered ? "answered: succeeded" : "not answered: no stream (the server sends it again)")}");
});
client.Start();

var demoJobSucceeded = settings.DemoJobAfter is null;
try
{
    if (settings.DemoJobAfter is { } delay)
    {
        await Task.Delay(delay, stop.Token);
        demoJobSucceeded = await RunDemoJobAsync(api, peerId, stop.Token);
    }

    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    // Duration over or Ctrl+C.
}

var heartbeats = client.HeartbeatsReceived;
var operatorViewOk = await ShowOperatorViewAsync(api);
var ok = heartbeats > 0 && demoJobSucceeded && operatorViewOk;
Print($"done: {heartbeats} heartbeats received over {client.Dials} dial(s); demo job {(settings.DemoJobAfter is null ? "not asked for" : demoJobSucceeded ? "succeeded" : "did not succeed")}");
return ok ? 0 : 1;

// What an operator sees: the health check and the library's metrics as Prometheus scrapes them.
static async Task<bool> ShowOperatorViewAsync(HttpClient api)
{
    try
    {
        using var health = await api.GetAsync(new Uri("/healthz", UriKind.Relative));
        Print($"/healthz: {(int)health.StatusCode} {await health.Content.ReadAsStringAsync()}");
        var metrics = await api.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var ours = metrics.Split('\n').Where(line => line.StartsWith("reactive_management_", StringComparison.Ordinal)).ToList();
        foreach (var line in ours.Where(line => line.Contains("heartbeats_sent", StringComparison.Ordinal) || line.Contains("jobs_", StringComparison.Ordinal)))
        {
            Print($"/metrics: {line}");
        }

        return health.IsSuccessStatusCode && ours.Any(line => line.StartsWith("reactive_management_heartbeats_sent", StringComparison.Ordinal));
    }
    catch (HttpRequestException exception)
    {
        Print($"operator view unavailable: {exception.Message}");
        return false;
    }
}

static void Print(string line) =>
    Console.WriteLine($"{DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} peer | {line}");

static async Task<string> RegisterAsync(HttpClient api, WireGuardPublicKey key, string name, CancellationToken cancellationToken)
{
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            using var response = await api.PostAsJsonAsync("/api/peers", new { wg_pub_key = key.ToString(), name }, cancellationToken);
            response.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            return body.RootElement.GetProperty("id").GetString()!;
        }
        catch (HttpRequestException) when (attempt < 60)
        {
            if (attempt == 1)
            {
                Print("waiting for the management server…");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }
    }
}

static async Task<bool> RunDemoJobAsync(HttpClient api, string peerId, CancellationToken cancellationToken)
{
    using var created = await api.PostAsJsonAsync(
        $"/api/peers/{peerId}/jobs",
        new { workload = new { type = "bundle", parameters = new { bundle_for = true, bundle_for_time = 2, log_file_count = 10, anonymize = false } } },
        cancellationToken);
    created.EnsureSuccessStatusCode();
    using var job = JsonDocument.Parse(await created.Content.ReadAsStringAsync(cancellationToken));
    var jobId = job.RootElement.GetProperty("id").GetString();
    Print($"operator: POST /api/peers/{peerId}/jobs -> job {jobId} ({job.RootElement.GetProperty("status").GetString()})");

    // Poll as an operator's script would; the API is the point of this step.
    for (var poll = 0; poll < 50; poll++)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        using var current = JsonDocument.Parse(await api.GetStringAsync($"/api/peers/{peerId}/jobs/{jobId}", cancellationToken));
        var status = current.RootElement.GetProperty("status").GetString();
        if (status is "succeeded" or "failed")
        {
            var uploadKey = current.RootElement.GetProperty("workload").TryGetProperty("result", out var result) ? result.GetProperty("upload_key").GetString() : null;
            Print($"operator: GET /api/peers/{peerId}/jobs/{jobId} -> {status}{(uploadKey is null ? "" : $", upload_key {uploadKey}")}");
            return status == "succeeded";
        }
    }

    Print($"operator: job {jobId} was not answered within 10 s");
    return false;
}
