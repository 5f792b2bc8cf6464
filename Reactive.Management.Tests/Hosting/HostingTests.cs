using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Reactive.Management.Hosting;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

public class HostingTests
{
    [Theory]
    [InlineData("00:00:00", "HeartbeatInterval")]
    [InlineData("-00:00:01", "HeartbeatInterval")]
    [InlineData("02:00:00", "HeartbeatInterval")]
    public async Task A_bad_heartbeat_interval_stops_the_start_with_a_clear_message(string interval, string setting)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(
            () => ManagementServer.StartAsync(options => options.HeartbeatInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture)));

        Assert.Contains($"Management:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Store", "mysql")]
    [InlineData("PostgresConnectionString", "")]
    [InlineData("PostgresConnectionString", "Hots=db;Nonsense")]
    [InlineData("ReplicaName", " ")]
    [InlineData("AnswerTimeout", "00:00:00")]
    [InlineData("PendingTimeToLive", "-00:00:01")]
    [InlineData("SqlitePath", "")]
    public async Task Bad_store_and_timeout_settings_stop_the_start(string setting, string value)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => ManagementServer.StartAsync(options =>
        {
            switch (setting)
            {
                case "Store": options.Store = value; break;
                case "PostgresConnectionString":
                    options.Store = "postgres";
                    options.PostgresConnectionString = value;
                    break;
                case "ReplicaName": options.ReplicaName = value; break;
                case "AnswerTimeout": options.AnswerTimeout = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "PendingTimeToLive": options.PendingTimeToLive = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                default: options.SqlitePath = value; break;
            }
        }));

        Assert.Contains($"Management:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HeartbeatScheduler", "timer")]
    [InlineData("HeartbeatJitter", "1")]
    [InlineData("HeartbeatJitter", "-0.1")]
    public async Task Bad_heartbeat_timing_settings_stop_the_start(string setting, string value)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => ManagementServer.StartAsync(options =>
        {
            if (setting == "HeartbeatScheduler")
            {
                options.HeartbeatScheduler = value;
            }
            else
            {
                options.HeartbeatJitter = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }));

        Assert.Contains($"Management:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_key_path_stops_the_start()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => ManagementServer.StartAsync(options => options.ServerKeyPath = " "));

        Assert.Contains("Management:ServerKeyPath", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MapReactiveManagement_without_AddReactiveManagement_fails_fast()
    {
        var app = WebApplication.CreateBuilder().Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapReactiveManagement());

        Assert.Contains("AddReactiveManagement()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_bind_from_the_Management_configuration_section()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Management:HeartbeatInterval"] = "00:00:05";
        builder.Configuration["Management:AcceptUnknownPeers"] = "true";
        builder.Services.AddReactiveManagement();
        using var app = builder.Build();

        var options = app.Services.GetRequiredService<IOptions<ManagementOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(5), options.HeartbeatInterval);
        Assert.True(options.AcceptUnknownPeers);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_new_server_key_file_is_readable_by_its_owner_only_and_is_reused()
    {
        var folder = Directory.CreateTempSubdirectory("reactive-management-key-").FullName;
        try
        {
            var path = Path.Combine(folder, "keys", "management.key");
            using var created = ServerIdentity.LoadOrCreate(path, NullLogger.Instance);

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            using var loaded = ServerIdentity.LoadOrCreate(path, NullLogger.Instance);
            Assert.Equal(created.KeyPair.PublicKey, loaded.KeyPair.PublicKey);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_corrupt_key_file_is_refused_without_echoing_its_content()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "secret-looking-garbage");

            var error = Assert.Throws<InvalidOperationException>(() => ServerIdentity.LoadOrCreate(path, NullLogger.Instance));

            Assert.DoesNotContain("secret-looking-garbage", error.Message, StringComparison.Ordinal);
            Assert.Contains(path, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task The_server_key_is_logged_by_its_public_half_only()
    {
        await using var server = await ManagementServer.StartAsync();
        var privateKey = server.Service<ServerIdentity>().KeyPair.ExportPrivateKey();

        Assert.Contains(server.Logs.Entries, entry => entry.EventId.Id == 500);
        Assert.DoesNotContain(server.Logs.Entries, entry => entry.Message.Contains(privateKey, StringComparison.Ordinal));
    }
}
