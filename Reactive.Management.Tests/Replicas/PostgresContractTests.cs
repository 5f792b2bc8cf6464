using System.Reflection;
using Reactive.Management.Events;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Storage;
using Reactive.Management.Tests.Events;
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

    [PostgresFact]
    public Task PostgresEventLog_keeps_the_event_log_contract_with_two_replicas_writing() => RunContractAsync<PostgresEventLogCase>();

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

    /// <summary>Two databases objects on one database: two replicas' connections, writing the same log.</summary>
    internal sealed class PostgresEventLogCase(string connectionString) : EventLogContract
    {
        private readonly PostgresDatabase _database = new(connectionString);
        private readonly PostgresDatabase _otherReplica = new(connectionString);

        private protected override IEventLog Log => new PostgresEventLog(_database, TimeSpan.FromSeconds(10), System.Reactive.Concurrency.Scheduler.Default, _ => { });

        private protected override IEventLog OtherWriter => new PostgresEventLog(_otherReplica, TimeSpan.FromSeconds(10), System.Reactive.Concurrency.Scheduler.Default, _ => { });

        protected override void DisposeLog()
        {
            _database.Dispose();
            _otherReplica.Dispose();
        }
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
