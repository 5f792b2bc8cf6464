using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using System.Reactive.Subjects;
using Grpc.Core;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Client;

/// <summary>
/// A peer's Job stream that never sits on a dead connection: it dials, watches for silence, and re-dials on a fresh
/// channel with exponential backoff and jitter, for as long as it lives.
/// </summary>
/// <remarks>
/// <para>The connection is one observable:</para>
/// <code>
/// Defer(dial a fresh channel → GetServerKey → Job → hello)
///   .SelectMany(connection => connection.Requests
///       .Timeout(LivenessTimeout, scheduler)            // silence → TimeoutException: the stream is dead
///       .Concat(Throw(JobStreamEndedException)))        // the server ended it: dial again too
///   .RetryWhen(failures => failures → delay (backoff, or MaxBackoff when refused) → Timer(delay, scheduler))
/// </code>
/// <para>Timing: a connection on which nothing arrives for <see cref="JobStreamClientOptions.LivenessTimeout"/> is torn
/// down at that instant. Re-dial n after consecutive failures waits up to InitialBackoff · Multiplier^(n−1), capped at
/// MaxBackoff; a connection that stayed up for BackoffResetAfter resets n to 1. PermissionDenied and Unauthenticated are
/// reported as <see cref="JobStreamStatus.Faulted"/> and retried every MaxBackoff, never in a tight loop.</para>
/// <para>Answers go to the current stream; one given while no stream is open is dropped, and the server sends the job
/// again on the next stream (delivery is at least once).</para>
/// </remarks>
public sealed class JobStreamClient : IDisposable
{
    private readonly IJobStreamDialer _dialer;
    private readonly JobStreamClientOptions _options;
    private readonly IScheduler _scheduler;
    private readonly ReconnectBackoff _backoff;
    private readonly BehaviorSubject<JobStreamState> _states;
    private readonly IConnectableObservable<JobRequest> _requests;
    private readonly SingleAssignmentDisposable _connection = new();
    private IJobStreamConnection? _current;
    private long _heartbeats;
    private long _dials;

    /// <summary>Creates a client over <paramref name="dialer"/>. Call <see cref="Start"/> to connect.</summary>
    /// <param name="dialer">Opens connections; <see cref="GrpcJobStreamDialer"/> for a real server.</param>
    /// <param name="options">Timings; null for the defaults.</param>
    /// <param name="scheduler">Times the watchdog and the backoff; null for the default scheduler.</param>
    /// <param name="random">Draws the jitter; null for a shared random source.</param>
    public JobStreamClient(IJobStreamDialer dialer, JobStreamClientOptions? options = null, IScheduler? scheduler = null, Random? random = null)
    {
        _dialer = dialer ?? throw new ArgumentNullException(nameof(dialer));
        _options = options ?? new JobStreamClientOptions();
        _options.Validate();
        _scheduler = scheduler ?? DefaultScheduler.Instance;
        _backoff = new ReconnectBackoff(_options, random ?? Random.Shared);
        _states = new BehaviorSubject<JobStreamState>(new JobStreamState(JobStreamStatus.Connecting, _scheduler.Now));
        _requests = Connection().Publish();
    }

    /// <summary>A client for the server at <paramref name="address"/>, dialing fresh gRPC channels.</summary>
    public static JobStreamClient Create(Uri address, WireGuardKeyPair keys, JobStreamClientOptions? options = null, IScheduler? scheduler = null) =>
        new(new GrpcJobStreamDialer(address, keys), options, scheduler);

    /// <summary>The connection's state changes; replays the current state to a new subscriber.</summary>
    public IObservable<JobStreamState> States => _states.AsObservable();

    /// <summary>The current state.</summary>
    public JobStreamState State => _states.Value;

    /// <summary>The jobs the server sends, over every stream the client opens (hot; heartbeats left out).</summary>
    public IObservable<JobRequest> Jobs => _requests.Where(request => !request.IsHeartbeat());

    /// <summary>The heartbeats, for those who want to see them (hot).</summary>
    public IObservable<JobRequest> Heartbeats => _requests.Where(request => request.IsHeartbeat());

    /// <summary>How many heartbeats arrived so far.</summary>
    public long HeartbeatsReceived => Interlocked.Read(ref _heartbeats);

    /// <summary>How many times the client dialed so far.</summary>
    public long Dials => Interlocked.Read(ref _dials);

    /// <summary>Starts connecting; subscribe to <see cref="Jobs"/> and <see cref="States"/> first to miss nothing.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_connection.IsDisposed, this);
        if (_connection.Disposable is null)
        {
            _connection.Disposable = _requests.Connect();
        }
    }

    /// <summary>Answers a job on the current stream.</summary>
    /// <returns>false when no stream is open (the server will send the job again).</returns>
    public bool Answer(JobResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var connection = Volatile.Read(ref _current);
        if (connection is null)
        {
            return false;
        }

        connection.Answer(response);
        return true;
    }

    /// <summary>Closes the stream and stops re-dialing.</summary>
    public void Dispose()
    {
        if (_connection.IsDisposed)
        {
            return;
        }

        _connection.Dispose();
        Publish(JobStreamStatus.Stopped);
        _states.OnCompleted();
        _states.Dispose();
    }

    private IObservable<JobRequest> Connection() => Observable.Defer(() =>
    {
        var attempt = 0;
        DateTimeOffset? connectedAt = null;

        var connection = Observable
            .FromAsync(ct =>
            {
                Interlocked.Increment(ref _dials);
                return _dialer.DialAsync(ct);
            })
            .SelectMany(opened => Observable.Using(
                () => Opened(opened, out connectedAt),
                _ => opened.Requests
                    .Timeout(_options.LivenessTimeout, _scheduler)
                    .Concat(Observable.Throw<JobRequest>(new JobStreamEndedException()))));

        return connection
            .Do(request =>
            {
                if (request.IsHeartbeat())
                {
                    Interlocked.Increment(ref _heartbeats);
                }
            })
            .RetryWhen(failures => failures
                .Select(error =>
                {
                    Volatile.Write(ref _current, null);
                    var healthy = connectedAt is { } since && _scheduler.Now - since >= _options.BackoffResetAfter;
                    attempt = healthy ? 1 : attempt + 1;
                    connectedAt = null;
                    var refused = error is RpcException { StatusCode: StatusCode.PermissionDenied or StatusCode.Unauthenticated };
                    var delay = refused ? _options.MaxBackoff : _backoff.Delay(attempt);
                    Publish(refused ? JobStreamStatus.Faulted : JobStreamStatus.Reconnecting, Describe(error), delay);
                    return delay;
                })
                .SelectMany(delay => Observable.Timer(delay, _scheduler).Do(_ => Publish(JobStreamStatus.Connecting))));
    });

    private IDisposable Opened(IJobStreamConnection connection, out DateTimeOffset? connectedAt)
    {
        connectedAt = _scheduler.Now;
        Volatile.Write(ref _current, connection);
        Publish(JobStreamStatus.Connected);
        return Disposable.Create(() =>
        {
            Interlocked.CompareExchange(ref _current, null, connection);
            connection.Dispose();
        });
    }

    private string Describe(Exception error) => error switch
    {
        TimeoutException => $"nothing received for {_options.LivenessTimeout.TotalSeconds:0.###} s",
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        _ => error.Message,
    };

    private void Publish(JobStreamStatus status, string? reason = null, TimeSpan? retryIn = null)
    {
        if (!_states.IsDisposed)
        {
            _states.OnNext(new JobStreamState(status, _scheduler.Now, reason, retryIn));
        }
    }
}
