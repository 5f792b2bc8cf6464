using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Data.Sqlite;
using Reactive.Management.Crypto;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Hosting;

/// <summary>A database the host can read but not write is an unhealthy host, and the API says 503, never 500.</summary>
public sealed class StorageFailureTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_read_only_database_makes_healthz_unhealthy_and_the_API_answer_503_naming_nothing_secret()
    {
        var folder = Directory.CreateTempSubdirectory("reactive-management-readonly-").FullName;
        var database = Path.Combine(folder, "management.db");
        using var peer = WireGuardKeyPair.Generate();
        using var stranger = WireGuardKeyPair.Generate();
        string peerId;
        await using (var first = await ManagementServer.StartAsync(folder: folder))
        {
            peerId = await first.RegisterAsync(peer);
        }

        SqliteConnection.ClearAllPools();
        using var readOnly = ReadOnlyFile.Make(database);
        await using var server = await ManagementServer.StartAsync(folder: folder);

        using var health = await server.Api.GetAsync("/healthz");
        using var newPeer = await server.Api.PostAsJsonAsync("/api/peers", new { wg_pub_key = stranger.PublicKey.ToString(), name = "new" });
        using var newJob = await server.Api.PostAsJsonAsync($"/api/peers/{peerId}/jobs", new { workload = new { type = "bundle" } });
        using var read = await server.Api.GetAsync($"/api/peers/{peerId}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());
        foreach (var refused in new[] { newPeer, newJob })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Retry once it is healthy", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        // The operator's log names the file and SQLite's own words; no unhandled exception, no stack trace.
        var failures = server.Logs.Entries.Where(entry => entry.EventId.Id == 700).ToList();
        Assert.Equal(2, failures.Count);
        Assert.All(failures, entry =>
        {
            Assert.Contains(database, entry.Message, StringComparison.Ordinal);
            Assert.Contains("readonly", entry.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Null(entry.Exception);
        });
        Assert.Contains(server.Logs.Entries, entry => entry.Message.Contains($"The SQLite database '{database}' is read-only", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Logs.Entries, entry => entry.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) && entry.Level >= Microsoft.Extensions.Logging.LogLevel.Error);

        await server.DisposeAsync();
        readOnly.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>A write the schema refuses (a duplicate id) is the caller's conflict: the database stays healthy.</summary>
    [Fact]
    public async Task A_constraint_violation_does_not_make_the_database_unhealthy()
    {
        var folder = Directory.CreateTempSubdirectory("reactive-management-constraint-").FullName;
        try
        {
            using var database = new Reactive.Management.Storage.SqliteDatabase(Path.Combine(folder, "management.db"));
            var store = new Reactive.Management.Storage.SqliteJobStore(database);
            using var peer = WireGuardKeyPair.Generate();
            var job = new Reactive.Management.Jobs.Job(Guid.NewGuid(), "peer", peer.PublicKey, new Reactive.Management.Protocol.BundleParameters(), Reactive.Management.Jobs.JobState.Pending, DateTimeOffset.UnixEpoch);
            await store.AddAsync(job);

            await Assert.ThrowsAsync<InvalidOperationException>(() => store.AddAsync(job).AsTask());

            Assert.Null(await database.WriteProblemAsync());
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>
    /// Makes a file unwritable even for root (who ignores its mode): the immutable attribute when running as root, else
    /// the mode.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private sealed class ReadOnlyFile : IDisposable
    {
        private readonly string _path;
        private readonly bool _immutable;
        private bool _disposed;

        private ReadOnlyFile(string path, bool immutable)
        {
            _path = path;
            _immutable = immutable;
        }

        public static ReadOnlyFile Make(string path)
        {
            if (Environment.UserName == "root")
            {
                Run("chattr", "+i", path);
                return new ReadOnlyFile(path, immutable: true);
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            return new ReadOnlyFile(path, immutable: false);
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_immutable)
            {
                Run("chattr", "-i", _path);
            }
            else
            {
                File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        private static void Run(string command, params string[] arguments)
        {
            using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed: {error}");
            }
        }
    }
}
