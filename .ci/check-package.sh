#!/usr/bin/env bash
# Packs Reactive.Management, then builds a throwaway host project that references the .nupkg from a local folder (not
# the source tree), runs it, and checks that it serves one Job stream: a peer registered in the host dials it with the
# package's own JobStreamClient and receives a heartbeat. Exit 0 only then.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

dotnet pack Reactive.Management -c Release -o "$work/feed" --nologo -v quiet -clp:ErrorsOnly -p:ContinuousIntegrationBuild=true
package="$(ls "$work"/feed/Reactive.Management.*.nupkg)"
version="$(basename "$package" .nupkg)"; version="${version#Reactive.Management.}"
echo "package: $(basename "$package")"

mkdir -p "$work/host"
cat > "$work/host/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
XML
cat > "$work/host/Host.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk.Web">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Reactive.Management" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$work/host/Program.cs" <<'CS'
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Peers;

// What a user gets in the package: the README, the license, the XML docs beside the assembly.
using (var package = System.IO.Compression.ZipFile.OpenRead(args[0]))
{
    string[] wanted = ["README.md", "LICENSE", "lib/net10.0/Reactive.Management.dll", "lib/net10.0/Reactive.Management.xml"];
    var missing = wanted.Except(package.Entries.Select(entry => entry.FullName)).ToList();
    if (missing.Count > 0)
    {
        Console.Error.WriteLine($"package check: missing from the .nupkg: {string.Join(", ", missing)}");
        return 1;
    }
}

var builder = WebApplication.CreateBuilder();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var folder = Directory.CreateTempSubdirectory("package-check-").FullName;
builder.Services.AddReactiveManagement(options =>
{
    options.Store = "memory";
    options.ServerKeyPath = Path.Combine(folder, "management.key");
    options.HeartbeatInterval = TimeSpan.FromMilliseconds(500);
});
var app = builder.Build();
app.MapReactiveManagement();
await app.StartAsync();
var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());

using var keys = WireGuardKeyPair.Generate();
await app.Services.GetRequiredService<IPeerRegistry>().RegisterAsync(keys.PublicKey, "package-check");
using var client = JobStreamClient.Create(address, keys);
var heartbeat = client.Heartbeats.FirstAsync().ToTask();
client.Start();
await heartbeat.WaitAsync(TimeSpan.FromSeconds(30));
Console.WriteLine($"package check: a Job stream served by the packed library at {address}; heartbeat received");
await app.StopAsync();
Directory.Delete(folder, recursive: true);
return 0;
CS
(cd "$work/host" && dotnet build -c Release --nologo -v quiet -clp:ErrorsOnly && dotnet run --no-build -c Release -- "$package")
