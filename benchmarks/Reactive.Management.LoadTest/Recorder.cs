using System.Collections.Concurrent;
using System.Diagnostics;

namespace Reactive.Management.LoadTest;

/// <summary>What the peers saw while measuring: heartbeat lateness, heartbeat count, when each job arrived.</summary>
internal sealed class Recorder
{
    private readonly ConcurrentQueue<double> _latenessMs = new();
    private long _heartbeats;
    private long _jobs;
    private long _lost;
    private volatile bool _measuring;

    public ConcurrentDictionary<Guid, long> JobArrivals { get; } = new();

    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    public long Jobs => Interlocked.Read(ref _jobs);

    /// <summary>Streams the server ended before the run was over.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    public void StreamLost() => Interlocked.Increment(ref _lost);

    public IReadOnlyCollection<double> LatenessMs => _latenessMs;

    public void StartMeasuring() => _measuring = true;

    public void StopMeasuring() => _measuring = false;

    /// <summary>A heartbeat came <paramref name="sinceLastMessage"/> after the stream's previous message; due after one interval.</summary>
    public void Heartbeat(TimeSpan sinceLastMessage, TimeSpan interval, bool judge)
    {
        if (!_measuring)
        {
            return;
        }

        Interlocked.Increment(ref _heartbeats);
        if (judge)
        {
            _latenessMs.Enqueue(Math.Max(0, (sinceLastMessage - interval).TotalMilliseconds));
        }
    }

    public void JobArrived(Guid id)
    {
        JobArrivals.TryAdd(id, Stopwatch.GetTimestamp());
        if (_measuring)
        {
            Interlocked.Increment(ref _jobs);
        }
    }

    public static double Percentile(IEnumerable<double> values, double percentile)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
