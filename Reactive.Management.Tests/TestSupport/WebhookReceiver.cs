using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>One webhook request the receiver accepted.</summary>
internal sealed record WebhookDelivery(long EventId, string Type, string Body, string Signature);

/// <summary>A webhook receiver: answers its scripted turns first ("fail" = 500, "hang" = no answer), then 200.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _script;

    private WebhookReceiver(WebApplication app, ConcurrentQueue<string> script, Uri url)
    {
        _app = app;
        _script = script;
        Url = url;
    }

    public Uri Url { get; }

    public ConcurrentQueue<WebhookDelivery> Accepted { get; } = new();

    public ConcurrentQueue<long> Requests { get; } = new();

    public static async Task<WebhookReceiver> StartAsync(int port, params string[] script)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, new ConcurrentQueue<string>(script), new Uri($"http://127.0.0.1:{port}/hook"));
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task<IResult> HandleAsync(HttpRequest request)
    {
        var body = await new StreamReader(request.Body).ReadToEndAsync();
        var eventId = long.Parse(request.Headers["X-Reactive-Event-Id"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
        Requests.Enqueue(eventId);
        if (_script.TryDequeue(out var turn))
        {
            if (turn == "hang")
            {
                await Task.Delay(Timeout.Infinite, request.HttpContext.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            return Results.StatusCode(StatusCodes.Status500InternalServerError);
        }

        Accepted.Enqueue(new WebhookDelivery(eventId, request.Headers["X-Reactive-Event-Type"].ToString(), body, request.Headers["X-Reactive-Signature"].ToString()));
        return Results.Ok();
    }
}
