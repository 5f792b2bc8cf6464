using Microsoft.Reactive.Testing;
using Reactive.Management.Client;
using Reactive.Management.Protocol;

namespace Reactive.Management.Tests.Client;

/// <summary>A dialer whose every dial is answered by a script, at once, on virtual time.</summary>
internal sealed class ScriptedDialer(TestScheduler scheduler, Func<int, ScriptedDialer.Outcome> script) : IJobStreamDialer
{
    public List<long> DialTimes { get; } = [];

    public List<FakeConnection> Sessions { get; } = [];

    public Task<IJobStreamConnection> DialAsync(CancellationToken cancellationToken)
    {
        DialTimes.Add(scheduler.Clock);
        var outcome = script(DialTimes.Count);
        if (outcome.Error is { } error)
        {
            return Task.FromException<IJobStreamConnection>(error);
        }

        var connection = new FakeConnection(outcome.Requests!);
        Sessions.Add(connection);
        return Task.FromResult<IJobStreamConnection>(connection);
    }

    public sealed record Outcome(ITestableObservable<JobRequest>? Requests, Exception? Error)
    {
        public static Outcome Session(ITestableObservable<JobRequest> requests) => new(requests, null);

        public static Outcome Fail(Exception error) => new(null, error);
    }

    internal sealed class FakeConnection(ITestableObservable<JobRequest> requests) : IJobStreamConnection
    {
        public ITestableObservable<JobRequest> Script => requests;

        public IObservable<JobRequest> Requests => requests;

        public List<JobResponse> Answers { get; } = [];

        public bool Disposed { get; private set; }

        public void Answer(JobResponse response) => Answers.Add(response);

        public void Dispose() => Disposed = true;
    }
}
