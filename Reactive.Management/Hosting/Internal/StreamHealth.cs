using System.Collections.Concurrent;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// What each peer's Job streams on this host did, for <c>GET /api/peers</c>: kept in memory by the replica that holds
/// the streams (a heartbeat costs a field write, never a database write). Another replica knows only whether, and
/// where, the peer is connected.
/// </summary>
internal sealed class StreamHealth
{
    private readonly ConcurrentDictionary<string, PeerStreamHealth> _peers = new(StringComparer.Ordinal);
    private long _heartbeats;

    /// <summary>Heartbeats written on this host since it started (the console's heartbeats per second).</summary>
    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    /// <summary>The peer's record, made on its first stream here.</summary>
    public PeerStreamHealth For(string peerId) => _peers.GetOrAdd(peerId, _ => new PeerStreamHealth(this));

    internal void CountHeartbeat() => Interlocked.Increment(ref _heartbeats);

    /// <summary>The peer's record, if it ever had a stream here.</summary>
    public PeerStreamHealth? Find(string peerId) => _peers.GetValueOrDefault(peerId);
}

/// <summary>One peer's streams on this host.</summary>
internal sealed class PeerStreamHealth(StreamHealth host)
{
    private readonly Lock _gate = new();
    private long _lastHeartbeatTicks;
    private long _lastAnswerTicks;
    private DateTimeOffset? _openedAt;
    private int _streamsOpened;
    private (DateTimeOffset At, string Reason)? _lastEnd;

    public void Opened(DateTimeOffset at)
    {
        lock (_gate)
        {
            _openedAt = at;
            _streamsOpened++;
        }
    }

    // Every heartbeat and answer: one field write, no lock.
    public void HeartbeatWritten(DateTimeOffset at)
    {
        Volatile.Write(ref _lastHeartbeatTicks, at.UtcTicks);
        host.CountHeartbeat();
    }

    public void Answered(DateTimeOffset at) => Volatile.Write(ref _lastAnswerTicks, at.UtcTicks);

    public void Ended(DateTimeOffset at, string reason)
    {
        lock (_gate)
        {
            _lastEnd = (at, reason);
        }
    }

    public (DateTimeOffset? OpenedAt, DateTimeOffset? LastHeartbeatAt, DateTimeOffset? LastAnswerAt, int StreamsOpened, (DateTimeOffset At, string Reason)? LastEnd) Read()
    {
        lock (_gate)
        {
            return (_openedAt, Ticks(Volatile.Read(ref _lastHeartbeatTicks)), Ticks(Volatile.Read(ref _lastAnswerTicks)), _streamsOpened, _lastEnd);
        }
    }

    private static DateTimeOffset? Ticks(long ticks) => ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
}
