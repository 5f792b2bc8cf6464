using System.Diagnostics;
using Npgsql;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A throwaway PostgreSQL cluster for the tests: Debian's binaries (<c>.ci/install-postgres.sh</c>), a data folder under
/// the temp folder, a free loopback port, started once per test run and stopped when the run ends. With
/// <c>REACTIVE_MANAGEMENT_POSTGRES</c> set (an Npgsql connection string of a superuser), that server is used instead.
/// Each test gets a database of its own.
/// </summary>
internal static class PostgresCluster
{
    public const string ServerVariable = "REACTIVE_MANAGEMENT_POSTGRES";

    private static readonly Lazy<string> AdminConnectionString = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Where initdb is, or null when PostgreSQL is not installed.</summary>
    public static string? Binaries =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(version => Path.Combine(version, "bin")).Where(bin => File.Exists(Path.Combine(bin, "initdb"))).OrderDescending().FirstOrDefault()
            : null;

    public static bool IsAvailable => Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } || Binaries is not null;

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var admin = AdminConnectionString.Value;
        var name = "rm_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ToString();
    }

    private static string Start()
    {
        if (Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } external)
        {
            return external;
        }

        var bin = Binaries ?? throw new InvalidOperationException("PostgreSQL is not installed: run 'bash .ci/install-postgres.sh' (Debian package postgresql), or set REACTIVE_MANAGEMENT_POSTGRES.");
        var folder = Directory.CreateTempSubdirectory("reactive-management-postgres-").FullName;
        var data = Path.Combine(folder, "data");
        var port = LoopbackPorts.Free();
        // PostgreSQL refuses to run as root: as root (CI), the cluster belongs to the 'postgres' user the package made.
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            Run("chown", "postgres:postgres", folder);
        }

        RunAs(asRoot, Path.Combine(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8");
        RunAs(asRoot, Path.Combine(bin, "pg_ctl"), "-D", data, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60", "start",
            "-o", $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                RunAs(asRoot, Path.Combine(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop");
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception exception) when (exception is InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                // The run is over; a leftover temp folder is all that remains.
            }
        };
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Maximum Pool Size=50";
    }

    private static void RunAs(bool asRoot, string program, params string[] arguments)
    {
        if (asRoot)
        {
            Run("runuser", ["-u", "postgres", "--", program, .. arguments]);
        }
        else
        {
            Run(program, arguments);
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(90)) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({(process.HasExited ? process.ExitCode : "timed out")}): {output.Result}{error.Result}");
        }
    }
}
