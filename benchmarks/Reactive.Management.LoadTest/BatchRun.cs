using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Reactive.Management.LoadTest;

/// <summary>
/// One fan-out batch to every peer, followed through <c>GET /api/batches/{id}</c> (the store's counts) until every job
/// is answered: the time it takes and the most jobs the store held sent at once, sampled.
/// </summary>
internal sealed record BatchRun(string BatchId, long Started, double CreatedMs, double FinishedMs, int Succeeded, int Unfinished, int MostSent)
{
    public static async Task<BatchRun> RunAsync(HttpClient api, IReadOnlyList<string> peerIds, int? maxInFlight, TimeSpan patience, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await api.PostAsJsonAsync("/api/jobs", new { peer_ids = peerIds, workload = new { type = "bundle" }, max_in_flight = maxInFlight }, cancellationToken);
        response.EnsureSuccessStatusCode();
        var createdMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var batchId = body.RootElement.GetProperty("id").GetString()!;
        var mostSent = 0;
        var counts = new Dictionary<string, int>();
        while (Stopwatch.GetElapsedTime(started) < patience && !cancellationToken.IsCancellationRequested)
        {
            using var batch = JsonDocument.Parse(await api.GetStringAsync(new Uri($"/api/batches/{batchId}?limit=1", UriKind.Relative), cancellationToken));
            counts = batch.RootElement.GetProperty("counts").EnumerateObject().ToDictionary(count => count.Name, count => count.Value.GetInt32());
            mostSent = Math.Max(mostSent, counts["sent"]);
            if (counts["pending"] + counts["sent"] == 0)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }

        return new BatchRun(batchId, started, createdMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds, counts["succeeded"], counts["pending"] + counts["sent"], mostSent);
    }

    /// <summary>The ids of a batch's jobs, each with the batch's start (its jobs' creation as the client saw it).</summary>
    public static async Task<List<(Guid JobId, long Started)>> JobIdsAsync(HttpClient api, string batchId, long started)
    {
        var ids = new List<(Guid, long)>();
        string? cursor = null;
        do
        {
            using var page = JsonDocument.Parse(await api.GetStringAsync(new Uri($"/api/batches/{batchId}?limit=500{(cursor is null ? "" : "&cursor=" + cursor)}", UriKind.Relative)));
            ids.AddRange(page.RootElement.GetProperty("items").EnumerateArray().Select(job => (Guid.Parse(job.GetProperty("id").GetString()!), started)));
            cursor = page.RootElement.TryGetProperty("next_cursor", out var next) ? next.GetString() : null;
        }
        while (cursor is not null);

        return ids;
    }
}
