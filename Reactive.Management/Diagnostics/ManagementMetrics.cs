using System.Diagnostics.Metrics;

namespace Reactive.Management.Diagnostics;

/// <summary>
/// The <c>Reactive.Management</c> meter: what an operator graphs and alerts on.
/// </summary>
public sealed class ManagementMetrics
{
    /// <summary>The meter's name, for OpenTelemetry's <c>AddMeter</c> or <c>dotnet-counters</c>.</summary>
    public const string MeterName = "Reactive.Management";

    private readonly UpDownCounter<long> _connectedPeers;
    private readonly Counter<long> _heartbeatsSent;
    private readonly Counter<long> _jobsSent;
    private readonly Counter<long> _jobsCreated;
    private readonly Counter<long> _jobsCompleted;
    private readonly Counter<long> _streamsRefused;
    private readonly Counter<long> _writeFailures;
    private readonly Histogram<double> _streamDuration;
    private readonly Counter<long> _heartbeatsSkipped;
    private readonly Counter<long> _streamsStuck;
    private readonly Counter<long> _apiRefused;
    private readonly Histogram<double> _heartbeatLateness;
    private readonly Histogram<double> _jobHandover;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    public ManagementMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        _connectedPeers = meter.CreateUpDownCounter<long>("reactive_management.peers.connected", "{peer}", "Peers with an open Job stream.");
        _heartbeatsSent = meter.CreateCounter<long>("reactive_management.heartbeats.sent", "{heartbeat}", "Heartbeats written to Job streams.");
        _jobsSent = meter.CreateCounter<long>("reactive_management.jobs.sent", "{job}", "Jobs written to Job streams (a redelivery counts again).");
        _jobsCreated = meter.CreateCounter<long>("reactive_management.jobs.created", "{job}", "Jobs created.");
        _jobsCompleted = meter.CreateCounter<long>("reactive_management.jobs.completed", "{job}", "Jobs finished, by state: succeeded, failed, timed_out, cancelled.");
        _streamsRefused = meter.CreateCounter<long>("reactive_management.streams.refused", "{stream}", "Job streams refused at the handshake, by gRPC status.");
        _writeFailures = meter.CreateCounter<long>("reactive_management.writes.failed", "{write}", "Job streams ended by a failed write (stuck writes included).");
        _streamDuration = meter.CreateHistogram<double>("reactive_management.stream.duration", "s", "How long Job streams stayed open, by how they ended.");
        _heartbeatsSkipped = meter.CreateCounter<long>("reactive_management.heartbeats.skipped", "{heartbeat}", "Heartbeats not queued because a write to the stream was still pending.");
        _streamsStuck = meter.CreateCounter<long>("reactive_management.streams.stuck", "{stream}", "Job streams reset because a write stayed pending past StuckWriteTimeout.");
        _heartbeatLateness = meter.CreateHistogram(
            "reactive_management.heartbeat.lateness",
            "ms",
            "How much later than one interval after the stream's previous write each heartbeat was written.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 1, 2, 5, 10, 20, 30, 40, 50, 100, 200, 500, 1000, 2000, 5000] });
        _jobHandover = meter.CreateHistogram(
            "reactive_management.job.handover",
            "ms",
            "From a job's creation to its hand-over to the connected peer's stream writer (stored, stored as sent, published).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] });
        _apiRefused = meter.CreateCounter<long>("reactive_management.api.refused", "{request}", "HTTP API requests refused, by reason (unauthorized, rate_limited).");
    }

    internal void StreamOpened() => _connectedPeers.Add(1);

    internal void StreamClosed(TimeSpan duration, string reason)
    {
        _connectedPeers.Add(-1);
        _streamDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("reason", reason));
    }

    internal void StreamRefused(Grpc.Core.StatusCode status) =>
        _streamsRefused.Add(1, new KeyValuePair<string, object?>("status", status.ToString()));

    internal void MessageWritten(bool heartbeat)
    {
        if (heartbeat)
        {
            _heartbeatsSent.Add(1);
        }
        else
        {
            _jobsSent.Add(1);
        }
    }

    internal void WriteFailed() => _writeFailures.Add(1);

    internal void HeartbeatSkipped() => _heartbeatsSkipped.Add(1);

    internal void JobHandedOver(TimeSpan duration) => _jobHandover.Record(duration.TotalMilliseconds);

    internal void HeartbeatLate(TimeSpan lateness) => _heartbeatLateness.Record(Math.Max(0, lateness.TotalMilliseconds));

    internal void StreamStuck()
    {
        _streamsStuck.Add(1);
        _writeFailures.Add(1);
    }

    internal void ApiRefused(string reason) => _apiRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    internal void JobCreated() => _jobsCreated.Add(1);

    internal void JobCompleted(string state) => _jobsCompleted.Add(1, new KeyValuePair<string, object?>("state", state));
}
