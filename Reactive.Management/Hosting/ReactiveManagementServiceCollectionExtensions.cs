using System.Reactive.Concurrency;
using Grpc.AspNetCore.Server;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Diagnostics;
using Reactive.Management.Hosting;
using Reactive.Management.Hosting.Api;
using Reactive.Management.Hosting.Internal;
using Reactive.Management.Events;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Replicas;
using Reactive.Management.Scheduling;
using Reactive.Management.Storage;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Reactive.Management server.</summary>
public static class ReactiveManagementServiceCollectionExtensions
{
    /// <summary>
    /// Adds the management server's services: gRPC (with <c>Management:MaxMessageSize</c>), options bound from the
    /// <c>Management</c> section and validated at start, the server key, the peer registry and job store (SQLite by
    /// default), the job hub and board, the API's access rule and job rate limit, a health check and metrics.
    /// Then call <c>MapReactiveManagement()</c> on the application.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Changes the options after configuration is bound; null for none.</param>
    public static ReactiveManagementBuilder AddReactiveManagement(this IServiceCollection services, Action<ManagementOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGrpc();
        services.AddOptions<GrpcServiceOptions<ManagementGrpcService>>()
            .Configure<IOptions<ManagementOptions>>((grpc, management) => grpc.MaxReceiveMessageSize = management.Value.MaxMessageSize);
        services.AddMetrics();
        services.AddHealthChecks().AddCheck<ManagementHealthCheck>("reactive_management");
        ManagementOpenApi.Add(services);
        var optionsBuilder = services.AddOptions<ManagementOptions>().BindConfiguration(ManagementOptions.SectionName).ValidateOnStart();
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ManagementOptions>, ManagementOptionsValidator>());
        services.TryAddSingleton(sp => new ManagementScheduler(
            DefaultScheduler.Instance,
            Options(sp).HeartbeatScheduler == ManagementOptions.HeartbeatSchedulers.Wheel
                ? sp.GetRequiredService<TimerWheelScheduler>()
                : DefaultScheduler.Instance));
        services.TryAddSingleton(_ => new TimerWheelScheduler());
        services.TryAddSingleton(sp => new SqliteDatabase(Options(sp).SqlitePath));
        services.TryAddSingleton(sp => new PostgresDatabase(Options(sp).PostgresConnectionString!));
        services.TryAddSingleton(sp => new PostgresJobStore(sp.GetRequiredService<PostgresDatabase>()));
        services.TryAddSingleton<IPeerRegistry>(sp => StoreKind(sp) switch
        {
            ManagementOptions.StoreKinds.Memory => new InMemoryPeerRegistry(Scheduler(sp)),
            // Another replica may change a peer's opt-in: a kept peer is read again after 5 s.
            ManagementOptions.StoreKinds.Postgres => new KnownPeers(new PostgresPeerRegistry(sp.GetRequiredService<PostgresDatabase>(), Scheduler(sp)), TimeSpan.FromSeconds(5)),
            _ => new KnownPeers(new SqlitePeerRegistry(sp.GetRequiredService<SqliteDatabase>(), Scheduler(sp))),
        });
        services.TryAddSingleton<IJobStore>(sp => StoreKind(sp) switch
        {
            ManagementOptions.StoreKinds.Memory => new InMemoryJobStore(),
            ManagementOptions.StoreKinds.Postgres => sp.GetRequiredService<PostgresJobStore>(),
            _ => new SqliteJobStore(sp.GetRequiredService<SqliteDatabase>()),
        });
        // Replicas: with PostgreSQL, job hints over LISTEN/NOTIFY and stream owners in the database; else this host alone.
        services.TryAddSingleton<IJobSignals>(sp => StoreKind(sp) == ManagementOptions.StoreKinds.Postgres
            ? new PostgresJobSignals(
                sp.GetRequiredService<PostgresDatabase>(),
                sp.GetRequiredService<PostgresJobStore>(),
                Options(sp).PostgresPollInterval,
                Scheduler(sp),
                sp.GetRequiredService<ILogger<PostgresJobSignals>>())
            : new LocalJobSignals());
        services.TryAddSingleton<IStreamOwnership>(sp => StoreKind(sp) == ManagementOptions.StoreKinds.Postgres
            ? new PostgresStreamOwnership(sp.GetRequiredService<PostgresDatabase>(), Options(sp).ReplicaName, Options(sp).PostgresPollInterval, Scheduler(sp))
            : new LocalStreamOwnership(sp.GetRequiredService<JobHub>(), Options(sp).ReplicaName));
        services.TryAddSingleton<JobHub>();
        services.TryAddSingleton(sp => new JobBoard(
            sp.GetRequiredService<IJobStore>(),
            sp.GetRequiredService<JobHub>(),
            Scheduler(sp),
            Options(sp).JobTimeouts,
            sp.GetRequiredService<ILogger<JobBoard>>(),
            sp.GetRequiredService<ManagementMetrics>(),
            sp.GetRequiredService<IJobSignals>(),
            sp.GetRequiredService<ManagementScheduler>().Timers));
        // Events: the SQLite file keeps them across restarts, PostgreSQL for every replica; the memory store in memory.
        services.TryAddSingleton<IEventLog>(sp => StoreKind(sp) switch
        {
            ManagementOptions.StoreKinds.Sqlite => new SqliteEventLog(sp.GetRequiredService<SqliteDatabase>()),
            ManagementOptions.StoreKinds.Postgres => new PostgresEventLog(
                sp.GetRequiredService<PostgresDatabase>(),
                Options(sp).PostgresPollInterval,
                sp.GetRequiredService<ManagementScheduler>().Timers,
                exception => Log.EventNotificationsLost(sp.GetRequiredService<ILogger<EventFeed>>(), exception)),
            _ => new InMemoryEventLog(),
        });
        services.TryAddSingleton(sp => new EventFeed(
            sp.GetRequiredService<IEventLog>(),
            sp.GetRequiredService<JobBoard>(),
            sp.GetRequiredService<ManagementScheduler>().Timers,
            Options(sp).EventRetention,
            sp.GetRequiredService<ILogger<EventFeed>>()));
        services.TryAddSingleton<IWebhookStore>(sp => StoreKind(sp) switch
        {
            ManagementOptions.StoreKinds.Sqlite => new SqliteWebhookStore(sp.GetRequiredService<SqliteDatabase>()),
            ManagementOptions.StoreKinds.Postgres => new PostgresWebhookStore(
                sp.GetRequiredService<PostgresDatabase>(),
                Options(sp).PostgresPollInterval,
                sp.GetRequiredService<ManagementScheduler>().Timers),
            _ => new InMemoryWebhookStore(),
        });
        services.TryAddSingleton(sp => new WebhookDispatcher(
            [.. Options(sp).Webhooks.Select(hook => new WebhookTarget(
                new Uri(hook.Url),
                System.Text.Encoding.UTF8.GetBytes(hook.Secret),
                hook.Types.ToHashSet(StringComparer.Ordinal),
                hook.MaxAttempts,
                hook.FirstRetryAfter,
                hook.Timeout))],
            sp.GetRequiredService<EventFeed>(),
            sp.GetRequiredService<IEventLog>(),
            sp.GetRequiredService<IWebhookStore>(),
            new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
            sp.GetRequiredService<ManagementScheduler>().Timers,
            sp.GetRequiredService<ILogger<WebhookDispatcher>>()));
        services.TryAddSingleton<ManagementMetrics>();
        services.TryAddSingleton(sp => ServerIdentity.LoadOrCreate(
            Options(sp).ServerKeyPath,
            sp.GetRequiredService<ILogger<ServerIdentity>>()));
        services.TryAddSingleton(sp => new JobStreamServices(
            sp.GetRequiredService<JobHub>(),
            sp.GetRequiredService<JobBoard>(),
            sp.GetRequiredService<ManagementScheduler>(),
            [.. sp.GetServices<OutgoingOperator>()],
            sp.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>(),
            sp.GetRequiredService<ManagementMetrics>(),
            sp.GetRequiredService<IJobSignals>(),
            sp.GetRequiredService<IStreamOwnership>(),
            sp.GetRequiredService<EventFeed>(),
            sp.GetRequiredService<StreamHealth>(),
            sp.GetRequiredService<ILogger<JobStreamSession>>()));
        services.TryAddSingleton<StreamHealth>();
        services.TryAddSingleton<JobStreamHandler>();
        services.TryAddSingleton<HelloGate>();
        services.TryAddSingleton(sp => StoreKind(sp) switch
        {
            ManagementOptions.StoreKinds.Memory => new StoreDescription("in-memory store", null),
            ManagementOptions.StoreKinds.Postgres => new StoreDescription("PostgreSQL", null),
            _ => new StoreDescription($"SQLite database '{sp.GetRequiredService<SqliteDatabase>().FullPath}'", sp.GetRequiredService<SqliteDatabase>()),
        });
        services.TryAddSingleton<ApiAccess>();
        services.TryAddSingleton<JobCreationLimiter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, ManagementStartup>());
        return new ReactiveManagementBuilder(services);
    }

    private static ManagementOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<ManagementOptions>>().Value;

    private static System.Reactive.Concurrency.IScheduler Scheduler(IServiceProvider services) => services.GetRequiredService<ManagementScheduler>().Scheduler;

    private static string StoreKind(IServiceProvider services) => Options(services).Store;
}
