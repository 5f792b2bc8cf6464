using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>One event as a Server-Sent Events client parses it.</summary>
internal sealed record SseEvent(long Id, string Type, JsonElement Data);

/// <summary>
/// A plain HTTP client reading <c>text/event-stream</c> line by line, as any SSE client would: <c>id:</c>,
/// <c>event:</c> and <c>data:</c> fields, a blank line ending an event, lines starting with ':' counted as comments.
/// </summary>
internal sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reading;
    private int _comments;

    private SseClient(HttpResponseMessage response)
    {
        _response = response;
        _reading = ReadAsync();
    }

    public Channel<SseEvent> Events { get; } = Channel.CreateUnbounded<SseEvent>();

    public int Comments => Volatile.Read(ref _comments);

    public HttpResponseMessage Response => _response;

    public static async Task<SseClient> ConnectAsync(HttpClient api, string path, long? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path) { Version = api.DefaultRequestVersion, VersionPolicy = api.DefaultVersionPolicy };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is { } last)
        {
            request.Headers.Add("Last-Event-ID", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var response = await api.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new SseClient(response);
    }

    /// <summary>The next event, or fails after <paramref name="patience"/>.</summary>
    public async Task<SseEvent> NextAsync(TimeSpan? patience = null)
    {
        using var timeout = new CancellationTokenSource(patience ?? TimeSpan.FromSeconds(20));
        try
        {
            return await Events.Reader.ReadAsync(timeout.Token);
        }
        catch (ChannelClosedException) when (_reading.IsCompleted)
        {
            // Say why the stream ended: the reader's failure, or the server's status.
            await _reading;
            throw new InvalidOperationException($"The event stream ended ({(int)_response.StatusCode}).");
        }
    }

    /// <summary>Whether the server ended the stream (all events read before are still in <see cref="Events"/>).</summary>
    public Task Ended => _reading;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _response.Dispose();
        await _reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task ReadAsync()
    {
        if (!_response.IsSuccessStatusCode)
        {
            Events.Writer.TryComplete();
            return;
        }

        await using var body = await _response.Content.ReadAsStreamAsync(_stop.Token);
        using var reader = new StreamReader(body);
        long id = 0;
        string? type = null;
        string? data = null;
        try
        {
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data is not null)
                    {
                        Events.Writer.TryWrite(new SseEvent(id, type ?? "message", JsonDocument.Parse(data).RootElement.Clone()));
                    }

                    type = data = null;
                }
                else if (line.StartsWith(':'))
                {
                    Interlocked.Increment(ref _comments);
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = line[6..];
                }
            }
        }
        finally
        {
            Events.Writer.TryComplete();
        }
    }
}
