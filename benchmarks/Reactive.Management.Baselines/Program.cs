// Baseline servers for `benchmarks/load.sh --compare` (see PERFORMANCE.md), on the host sample's gRPC address and Kestrel
// settings:
//   --mode hold    a bare grpc-dotnet server: reads the hello, then awaits the call's end; sends nothing. No Rx, no crypto.
//   --mode ticker  a hand-written port of NetBird PR #5185: per stream, after opening the sealed hello, one PeriodicTimer
//                  and one Channel (HandWrittenJobLoop: select over both, ticker.Reset on each job), the same NaCl seal.
using Reactive.Management.Baselines;
using Reactive.Management.Crypto;

var mode = Argument("--mode") ?? "hold";
var interval = TimeSpan.FromSeconds(double.Parse(Argument("--heartbeat") ?? "30", System.Globalization.CultureInfo.InvariantCulture));
if (mode is not ("hold" or "ticker"))
{
    Console.Error.WriteLine($"error: --mode must be 'hold' or 'ticker'; got '{mode}'");
    return 2;
}

var builder = WebApplication.CreateBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(System.Net.IPAddress.Loopback, int.Parse(Argument("--port") ?? "33073", System.Globalization.CultureInfo.InvariantCulture), listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
    kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
    kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
});
builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = 1024 * 1024);
builder.Services.AddSingleton(new BaselineSettings(mode, interval, WireGuardKeyPair.Generate()));
var app = builder.Build();
app.MapGrpcService<BaselineService>();
await app.RunAsync();
return 0;

string? Argument(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}
