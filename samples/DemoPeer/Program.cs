// A demo peer: registers its key through the HTTP API, opens the Job stream, prints every heartbeat and job
// it receives, and answers each job. With --demo-job-after it also asks the server (as an operator would)
// for a debug bundle from itself, and prints the job's outcome as the API reports it.
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using DemoPeer;
using Grpc.Core;
using Grpc.Net.Client;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

DemoSettings settings;
try
{
    settings = DemoSettings.Parse(args);
}
catch (ArgumentException exception)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(DemoSettings.Usage);
    return 2;
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
using var channel = GrpcChannel.ForAddress(settings.Management);
var client = new ManagementService.ManagementServiceClient(channel);
Print($"peer key {keys.PublicKey}; management {settings.Management}, API {settings.Api}");

await WaitForServerAsync(client, stop.Token);
var peerId = await RegisterAsync(api, keys.PublicKey, settings.Name, stop.Token);
Print($"registered as peer {peerId}");

await using var connection = await JobStreamConnection.OpenAsync(client, keys, stop.Token);
Print($"Job stream open; server key {connection.ServerKey}");
var heartbeats = 0;
var streamEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var subscription = connection.Requests.Subscribe(
    request =>
    {
        if (request.IsHeartbeat())
        {
            Print($"heartbeat #{Interlocked.Increment(ref heartbeats)}");
            return;
        }

        var jobId = new Guid(request.ID.Span, bigEndian: true);
        Print($"job {jobId} received: debug bundle (log files {request.Bundle?.LogFileCount}, for {request.Bundle?.BundleForTime} min)");
        connection.Answer(new JobResponse
        {
            ID = request.ID,
            Status = JobStatus.Succeeded,
            Bundle = new BundleResult { UploadKey = $"demo-uploads/{jobId:N}.zip" },
        });
        Print($"job {jobId} answered: succeeded");
    },
    error =>
    {
        Print($"Job stream ended: {(error is RpcException rpc ? $"{rpc.StatusCode} {rpc.Status.Detail}" : error.Message)}");
        streamEnded.TrySetResult();
    },
    () =>
    {
        Print("Job stream ended by the server");
        streamEnded.TrySetResult();
    });

var demoJobSucceeded = settings.DemoJobAfter is null;
try
{
    if (settings.DemoJobAfter is { } delay)
    {
        await Task.Delay(delay, stop.Token);
        demoJobSucceeded = await RunDemoJobAsync(api, peerId, stop.Token);
    }

    await Task.WhenAny(streamEnded.Task, Task.Delay(Timeout.Infinite, stop.Token));
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    // Duration over or Ctrl+C.
}

var ok = heartbeats > 0 && demoJobSucceeded;
Print($"done: {heartbeats} heartbeats received; demo job {(settings.DemoJobAfter is null ? "not asked for" : demoJobSucceeded ? "succeeded" : "did not succeed")}");
return ok ? 0 : 1;

static void Print(string line) =>
    Console.WriteLine($"{DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} peer | {line}");

static async Task WaitForServerAsync(ManagementService.ManagementServiceClient client, CancellationToken cancellationToken)
{
    for (var attempt = 1; ; attempt++)
    {
        try
        {
            await client.isHealthyAsync(new Empty(), deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: cancellationToken);
            return;
        }
        catch (RpcException exception) when (exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && attempt < 60)
        {
            if (attempt == 1)
            {
                Print("waiting for the management server…");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        }
    }
}

static async Task<string> RegisterAsync(HttpClient api, WireGuardPublicKey key, string name, CancellationToken cancellationToken)
{
    using var response = await api.PostAsJsonAsync("/api/peers", new { wg_pub_key = key.ToString(), name }, cancellationToken);
    response.EnsureSuccessStatusCode();
    using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
    return body.RootElement.GetProperty("id").GetString()!;
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
