// The management host: Kestrel serving management.ManagementService (gRPC over HTTP/2), the HTTP API, /healthz and
// Prometheus metrics at /metrics, with the defaults embedded in appsettings.json. `--environment Demo` shortens the
// heartbeat to 2 s.
using OpenTelemetry.Metrics;
using Reactive.Management.Diagnostics;
using Reactive.Management.Hosting;

var builder = WebApplication.CreateBuilder(args);

builder.WebHost.ConfigureKestrel(kestrel =>
{
    // HTTP/2 PINGs find dead connections between Kestrel and its direct peer. They do not keep a stream
    // open through a reverse proxy (proxies count DATA frames): that is what the Job stream heartbeat is for.
    kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
    kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
});

builder.Services.AddReactiveManagement();
// The library's meter, Kestrel's and the runtime's (GC heap, CPU), scraped by Prometheus at /metrics.
builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
    .AddMeter(ManagementMetrics.MeterName, "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime")
    .AddPrometheusExporter());

var app = builder.Build();
// A host that cannot start (a bad key or database file, a port in use, a bad setting) says why in one line and exits
// with 1. The stack trace is the hosting log's (category Microsoft.Extensions.Hosting.Internal.Host, at Critical in
// appsettings.json; set it to Error to see it).
try
{
    // Mapping reads the settings (and validates them): inside, so that a bad one is reported like the rest.
    app.MapReactiveManagement();
    app.MapPrometheusScrapingEndpoint();
    await app.StartAsync();
}
catch (Exception exception)
{
    await Console.Error.WriteLineAsync($"error: {StartupFailure.Describe(exception)}");
    return 1;
}

await app.WaitForShutdownAsync();
return 0;
