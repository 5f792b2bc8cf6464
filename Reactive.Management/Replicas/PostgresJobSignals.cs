using System.Reactive.Concurrency;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Reactive.Management.Crypto;
using Reactive.Management.Diagnostics;
using Reactive.Management.Jobs;
using Reactive.Management.Storage;

namespace Reactive.Management.Replicas;

/// <summary>
/// Job hints between replicas over PostgreSQL: <c>NOTIFY</c> when a job is stored for a peer held elsewhere,
/// <c>LISTEN</c> for the others' hints, and a poll of the pending jobs' peers every <c>PostgresPollInterval</c> (and after
/// every reconnect of the listening connection) for hints that were lost.
/// </summary>
internal sealed class PostgresJobSignals : IJobSignals, IHostedService, IDisposable
{
    private readonly PostgresDatabase _database;
    private readonly PostgresJobStore _store;
    private readonly TimeSpan _pollInterval;
    private readonly IScheduler _scheduler;
    private readonly ILogger<PostgresJobSignals> _logger;
    private readonly ISubject<WireGuardPublicKey> _peersWithWork = Subject.Synchronize(new Subject<WireGuardPublicKey>());
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _poll;
    private long _pollsDone;
    private Task _listening = Task.CompletedTask;

    /// <summary>Creates the signals; they start with the host.</summary>
    public PostgresJobSignals(PostgresDatabase database, PostgresJobStore store, TimeSpan pollInterval, IScheduler scheduler, ILogger<PostgresJobSignals> logger)
    {
        _database = database ?? throw new ArgumentNullException(nameof(database));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _pollInterval = pollInterval;
        _scheduler = scheduler ?? throw new ArgumentNullException(nameof(scheduler));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <inheritdoc />
    public IObservable<WireGuardPublicKey> PeersWithWork => _peersWithWork.AsObservable();

    /// <summary>How many polls have completed (for tests and diagnostics).</summary>
    internal long PollsDone => Interlocked.Read(ref _pollsDone);

    /// <inheritdoc />
    public async ValueTask PeerHasWorkAsync(WireGuardPublicKey peer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(peer);
        // In the job store's next batch: a hint per job created costs no round trip of its own.
        var key = peer.ToString();
        await _database.WriteAsync(
            "SELECT pg_notify($1, $2)",
            parameters =>
            {
                parameters.AddWithValue(PostgresDatabase.JobsChannel);
                parameters.AddWithValue(key);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _poll = Observable.Interval(_pollInterval, _scheduler)
            .Select(_ => Observable.FromAsync(PollAsync))
            .Concat()
            .Subscribe();
        _listening = ListenAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _poll?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _listening.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _poll?.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private Task ListenAsync(CancellationToken stopping) => _database.ListenAsync(
        PostgresDatabase.JobsChannel,
        payload =>
        {
            if (WireGuardPublicKey.TryParse(payload, out var peer))
            {
                _peersWithWork.OnNext(peer);
            }
        },
        PollAsync,
        exception => Log.JobSignalsLost(_logger, exception),
        stopping);

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var peer in await _store.PeersWithPendingJobsAsync(cancellationToken).ConfigureAwait(false))
            {
                _peersWithWork.OnNext(peer);
            }

            Interlocked.Increment(ref _pollsDone);
        }
        catch (Exception exception) when (exception is NpgsqlException or IOException or TimeoutException)
        {
            Log.JobSignalsLost(_logger, exception);
        }
    }
}
