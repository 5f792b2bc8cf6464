namespace Reactive.Management.Events;

/// <summary>
/// What webhooks have done, kept with the event log: per webhook the last event id it has settled (delivered, or given
/// up on), and the deliveries that failed. The event log itself is the outbox: a webhook sends every event after its
/// cursor, so a restart resumes where it stopped.
/// </summary>
internal interface IWebhookStore
{
    /// <summary>
    /// Waits until this process is the one that sends to the webhook at <paramref name="url"/> (with several replicas,
    /// one at a time); the turn lasts until the returned handle is disposed.
    /// </summary>
    ValueTask<IAsyncDisposable> TakeTurnAsync(string url, CancellationToken cancellationToken = default) => ValueTask.FromResult(NoTurn.Instance);

    /// <summary>The last event id settled for the webhook at <paramref name="url"/>, or null before its first.</summary>
    ValueTask<long?> CursorAsync(string url, CancellationToken cancellationToken = default);

    /// <summary>Stores the webhook's cursor, and, when it gave up on that event, the failure.</summary>
    ValueTask SettleAsync(string url, long eventId, WebhookFailure? failure, CancellationToken cancellationToken = default);

    /// <summary>The failed deliveries, newest first.</summary>
    ValueTask<IReadOnlyList<WebhookFailure>> FailuresAsync(int limit, CancellationToken cancellationToken = default);
}

/// <summary>The turn of a store that only this process uses: always its own.</summary>
internal sealed class NoTurn : IAsyncDisposable
{
    public static readonly IAsyncDisposable Instance = new NoTurn();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>A delivery given up on after its last try.</summary>
internal sealed record WebhookFailure(string Url, long EventId, string EventType, int Attempts, string LastError, DateTimeOffset FailedAt);

/// <summary>Webhook state in memory (the memory store's).</summary>
internal sealed class InMemoryWebhookStore : IWebhookStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _cursors = new(StringComparer.Ordinal);
    private readonly List<WebhookFailure> _failures = [];

    public ValueTask<long?> CursorAsync(string url, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<long?>(_cursors.TryGetValue(url, out var cursor) ? cursor : null);
        }
    }

    public ValueTask SettleAsync(string url, long eventId, WebhookFailure? failure, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _cursors[url] = eventId;
            if (failure is not null)
            {
                _failures.Add(failure);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<WebhookFailure>> FailuresAsync(int limit, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return ValueTask.FromResult<IReadOnlyList<WebhookFailure>>([.. _failures.AsEnumerable().Reverse().Take(limit)]);
        }
    }
}
