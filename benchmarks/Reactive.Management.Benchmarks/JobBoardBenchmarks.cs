using System.Reactive.Concurrency;
using BenchmarkDotNet.Attributes;
using Microsoft.Data.Sqlite;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Storage;

namespace Reactive.Management.Benchmarks;

/// <summary>
/// Creating a job for a connected peer, until it is stored, handed to the peer's stream and stored as sent:
/// the work behind <c>POST /api/peers/{id}/jobs</c>, without HTTP.
/// </summary>
[MemoryDiagnoser]
public class JobBoardBenchmarks
{
    private const int Concurrent = 16;
    private readonly BundleParameters _bundle = new() { BundleFor = true, BundleForTime = 2, LogFileCount = 10 };
    private string _folder = null!;
    private JobBoard _board = null!;
    private PeerOutbox _channel = null!;
    private IDisposable _stream = null!;
    private WireGuardKeyPair _peerKeys = null!;
    private Peer _peer = null!;
    private long _delivered;

    [Params("sqlite", "memory")]
    public string Store { get; set; } = "sqlite";

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("reactive-management-bench-").FullName;
        IJobStore store = Store == "sqlite" ? new SqliteJobStore(new SqliteDatabase(Path.Combine(_folder, "bench.db"))) : new InMemoryJobStore();
        var hub = new JobHub();
        _board = new JobBoard(store, hub, DefaultScheduler.Instance, JobTimeouts.Default);
        _peerKeys = WireGuardKeyPair.Generate();
        _peer = new Peer("bench-peer", _peerKeys.PublicKey, "bench", DateTimeOffset.UtcNow);
        _channel = hub.CreateOutbox(_peer.Key);
        // A writer that never falls behind: each job is reported written as it arrives.
        _stream = _channel.Jobs.Subscribe(_ =>
        {
            Interlocked.Increment(ref _delivered);
            _channel.JobWritten();
        });
        hub.Register(_channel);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stream.Dispose();
        _channel.Dispose();
        _board.Dispose();
        _peerKeys.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "create → store → deliver → store sent, one at a time")]
    public Task<Job> CreateAndDeliver() => _board.CreateAsync(_peer, _bundle);

    [Benchmark(OperationsPerInvoke = Concurrent, Description = "the same, 16 API callers at once")]
    public Task CreateAndDeliverConcurrently() =>
        Task.WhenAll(Enumerable.Range(0, Concurrent).Select(_ => Task.Run(() => _board.CreateAsync(_peer, _bundle))));
}
