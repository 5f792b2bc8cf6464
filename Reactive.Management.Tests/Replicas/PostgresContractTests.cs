using System.Reflection;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Storage;
using Reactive.Management.Tests.Jobs;
using Reactive.Management.Tests.Peers;
using Reactive.Management.Tests.TestSupport;
using Xunit;

namespace Reactive.Management.Tests.Replicas;

/// <summary>
/// The PostgreSQL store and registry against the same contract suites as SQLite and memory. Each runs every case of its
/// suite (one fresh database per case) inside one test, so that the whole suite can be skipped where PostgreSQL is absent.
/// </summary>
public sealed class PostgresContractTests
{
    [PostgresFact]
    public Task PostgresJobStore_keeps_the_job_store_contract() => RunContractAsync<PostgresJobStoreCase>();

    [PostgresFact]
    public Task PostgresPeerRegistry_keeps_the_peer_registry_contract() => RunContractAsync<PostgresPeerRegistryCase>();

    private static async Task RunContractAsync<TCase>()
        where TCase : IDisposable
    {
        var cases = typeof(TCase).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(method => method.GetCustomAttributes<FactAttribute>(inherit: true).Any())
            .ToList();
        Assert.NotEmpty(cases);
        var failures = new List<string>();
        foreach (var method in cases)
        {
            var connectionString = await PostgresCluster.CreateDatabaseAsync();
            using var instance = (TCase)Activator.CreateInstance(typeof(TCase), connectionString)!;
            try
            {
                await (Task)method.Invoke(instance, null)!;
            }
            catch (Exception exception)
            {
                failures.Add($"{method.Name}: {(exception is TargetInvocationException { InnerException: { } inner } ? inner : exception).Message}");
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} contract cases failed:{Environment.NewLine}{string.Join(Environment.NewLine, failures)}");
    }

    // Not public: xunit must not run these on their own (they run above, inside the PostgreSQL-gated tests).
    internal sealed class PostgresJobStoreCase(string connectionString) : JobStoreContract
    {
        private readonly PostgresDatabase _database = new(connectionString);

        protected override IJobStore Store => new PostgresJobStore(_database);

        protected override void DisposeStore() => _database.Dispose();
    }

    internal sealed class PostgresPeerRegistryCase : PeerRegistryContract
    {
        private readonly PostgresDatabase _database;

        public PostgresPeerRegistryCase(string connectionString)
        {
            _database = new PostgresDatabase(connectionString);
            Registry = new PostgresPeerRegistry(_database, Clock);
        }

        protected override IPeerRegistry Registry { get; }

        protected override void DisposeRegistry() => _database.Dispose();
    }
}
