using System.Runtime.CompilerServices;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// Dozens of test hosts share this one process (and two cores) with the tests driving them, unlike any real host. A
/// burst of tests that block pool threads (gRPC clients, PostgreSQL, SQLite under load) must not delay the hosts'
/// timers while the pool grows a thread at a time: a proxy test once saw no heartbeat for 2 s.
/// </summary>
internal static class ThreadPoolFloor
{
    [ModuleInitializer]
    internal static void Raise()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(completionPorts, 32));
    }
}
