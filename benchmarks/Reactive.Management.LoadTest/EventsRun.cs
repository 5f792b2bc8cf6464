using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Reactive.Management.Crypto;

namespace Reactive.Management.LoadTest;

/// <summary>
/// How many events one host pushes: C clients follow <c>GET /api/events</c> while API clients create jobs flat out for
/// the window; each SSE client counts the events it reads. With <c>--webhook-port</c>, a receiver on that port (the
/// host configured to send it every event) counts its deliveries too.
/// </summary>
internal static class EventsRun
{
    public static async Task<int> RunAsync(Uri apiAddress, int sseClients, int creators, TimeSpan duration, int? webhookPort)
    {
        using var admin = new HttpClient { BaseAddress = apiAddress };
        var peerIds = await ApiCreation.RegisterPeersAsync(admin, 100, "events");

        long webhookDeliveries = 0;
        WebApplication? receiver = null;
        if (webhookPort is { } port)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
            receiver = builder.Build();
            receiver.MapPost("/hook", async (HttpRequest request) =>
            {
                await request.Body.CopyToAsync(Stream.Null);
                Interlocked.Increment(ref webhookDeliveries);
                return Results.Ok();
            });
            await receiver.StartAsync();
        }

        using var stop = new CancellationTokenSource();
        var counts = new long[sseClients];
        var ended = new int[sseClients];
        var readers = Enumerable.Range(0, sseClients).Select(i => Task.Run(async () =>
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = apiAddress, Timeout = Timeout.InfiniteTimeSpan };
            try
            {
                using var response = await client.GetAsync("/api/events", HttpCompletionOption.ResponseHeadersRead, stop.Token);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));
                while (await reader.ReadLineAsync(stop.Token) is { } line)
                {
                    if (line.StartsWith("id: ", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref counts[i]);
                    }
                }

                ended[i] = 1;
            }
            catch (Exception exception) when (exception is OperationCanceledException or IOException or HttpRequestException)
            {
                if (!stop.IsCancellationRequested)
                {
                    ended[i] = 1;
                }
            }
        })).ToList();

        await Task.Delay(TimeSpan.FromSeconds(1));
        var (_, newestBefore) = await NewestAsync(admin);
        var deliveredBefore = Interlocked.Read(ref webhookDeliveries);
        var window = Stopwatch.StartNew();
        var created = 0L;
        await Task.WhenAll(Enumerable.Range(0, creators).Select(c => Task.Run(async () =>
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = apiAddress };
            var random = new Random(c);
            while (window.Elapsed < duration)
            {
                using var response = await client.PostAsJsonAsync($"/api/peers/{peerIds[random.Next(peerIds.Count)]}/jobs", new { workload = new { type = "bundle" } });
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    Interlocked.Increment(ref created);
                }
            }
        })));
        var measured = window.Elapsed;
        // Let the last events arrive, then stop reading.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var (_, newestAfter) = await NewestAsync(admin);
        var recorded = newestAfter - newestBefore;
        var received = counts.Select(count => Interlocked.Read(ref count)).ToList();
        var webhook = Interlocked.Read(ref webhookDeliveries) - deliveredBefore;
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        if (receiver is not null)
        {
            await receiver.StopAsync();
            await receiver.DisposeAsync();
        }

        Console.WriteLine("| measure | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| jobs created (201) | {created} in {measured.TotalSeconds:F1} s: {created / measured.TotalSeconds:F0}/s |");
        Console.WriteLine($"| events recorded | {recorded}: {recorded / measured.TotalSeconds:F0}/s |");
        Console.WriteLine($"| SSE clients, events each (min / max), dropped | {sseClients}, {received.Min()} / {received.Max()}, {ended.Sum()} |");
        Console.WriteLine($"| events pushed to all SSE clients | {received.Sum() / measured.TotalSeconds:F0}/s |");
        if (webhookPort is not null)
        {
            Console.WriteLine($"| webhook deliveries to one fast receiver | {webhook}: {webhook / measured.TotalSeconds:F0}/s (of {recorded} events) |");
        }

        return 0;
    }

    private static async Task<(long? Oldest, long Newest)> NewestAsync(HttpClient admin)
    {
        // The newest id: ask for events after an id far beyond, and read it from the refusal.
        using var response = await admin.GetAsync("/api/events?last_event_id=9223372036854775807");
        var text = await response.Content.ReadAsStringAsync();
        var marker = "beyond the newest event (";
        var start = text.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        return (null, long.Parse(text[start..text.IndexOf(')', start)], System.Globalization.CultureInfo.InvariantCulture));
    }
}
