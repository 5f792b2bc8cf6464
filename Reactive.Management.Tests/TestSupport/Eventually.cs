namespace Reactive.Management.Tests.TestSupport;

/// <summary>Waits for a condition that another thread makes true, failing with a message after a deadline.</summary>
internal static class Eventually
{
    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>The same for a condition that must ask a store or a server: awaited, never blocked on.</summary>
    /// <remarks>Blocking a pool thread per poll starved the pool when many tests ran at once, and with it the timers of
    /// the hosts under test (a proxy test saw no heartbeat for 2 s).</remarks>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            try
            {
                await Task.Delay(10, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Still waiting for: {what}");
            }
        }
    }
}
