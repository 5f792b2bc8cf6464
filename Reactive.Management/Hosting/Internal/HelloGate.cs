using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Reactive.Concurrency;
using Grpc.Core;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactive.Management.Diagnostics;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Stands before the Job method's gRPC handler: a stream reaches the handler only once its first message (the hello)
/// has arrived whole, so a client that has not proven who it is holds little, and not for long.
/// </summary>
/// <remarks>
/// <para>A stream awaiting its hello counts against <see cref="ManagementOptions.MaxStreamsAwaitingHello"/> (host) and
/// <see cref="ManagementOptions.MaxStreamsAwaitingHelloPerConnection"/>; beyond either it is refused with
/// <c>ResourceExhausted</c> at once. The hello must arrive within <see cref="ManagementOptions.HelloTimeout"/>
/// (timed on the management timers: the wheel by default), else <c>DeadlineExceeded</c>. A hello whose gRPC length prefix announces more
/// than <see cref="MaxHelloBytes"/> is refused with <c>ResourceExhausted</c> as soon as the prefix is read, instead of
/// being buffered up to <c>MaxMessageSize</c>.</para>
/// <para>The gate reads the request body without consuming it: the handler reads the same bytes.</para>
/// </remarks>
internal sealed class HelloGate(
    IOptionsMonitor<ManagementOptions> options,
    ManagementScheduler scheduler,
    ManagementMetrics metrics,
    ILogger<HelloGate> logger)
{
    /// <summary>The largest hello accepted, in bytes. A NetBird hello (key, sealed JobRequest with a UUID) is ~130.</summary>
    public const int MaxHelloBytes = 1024;

    // A gRPC message on the wire: 1 byte compressed flag, 4 bytes big-endian length, then the message.
    private const int PrefixBytes = 5;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _awaitingPerConnection = [];
    private int _awaiting;

    /// <summary>How many Job streams are waiting for their hello now.</summary>
    public int Awaiting => Volatile.Read(ref _awaiting);

    /// <summary>Wraps the Job method's request delegate.</summary>
    public RequestDelegate Wrap(RequestDelegate handler) => context => RunAsync(context, handler);

    private async Task RunAsync(HttpContext context, RequestDelegate handler)
    {
        var settings = options.CurrentValue;
        if (await AwaitHelloAsync(context, settings).ConfigureAwait(false))
        {
            await handler(context).ConfigureAwait(false);
        }
    }

    /// <returns>true when the hello is buffered whole (or the client ended its side without one) and the handler should run.</returns>
    private async Task<bool> AwaitHelloAsync(HttpContext context, ManagementOptions settings)
    {
        var connection = context.Connection.Id;
        // The deadline is armed before the stream counts as waiting: whoever sees it counted can rely on its deadline.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        using var timer = scheduler.Timers.Schedule(settings.HelloTimeout, () => Cancel(deadline));
        if (!TryEnter(connection, settings))
        {
            Refuse(context, StatusCode.ResourceExhausted,
                $"too many Job streams are awaiting their hello (at most {settings.MaxStreamsAwaitingHello} on the host, {settings.MaxStreamsAwaitingHelloPerConnection} per connection); retry later");
            return false;
        }

        try
        {
            return await ReadHelloAsync(context, settings.HelloTimeout, deadline.Token).ConfigureAwait(false);
        }
        finally
        {
            Leave(connection);
        }
    }

    private async Task<bool> ReadHelloAsync(HttpContext context, TimeSpan timeout, CancellationToken deadline)
    {
        // What grpc-dotnet does for a streaming call, done here because these limits lock once the body is first read:
        // a Job stream lives for days and sends little (no body size cap, no minimum data rate; the hello has its own
        // deadline, the answers MaxMessageSize).
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBodySize)
        {
            maxBodySize.MaxRequestBodySize = null;
        }

        if (context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minDataRate)
        {
            minDataRate.MinDataRate = null;
        }

        var body = context.Request.BodyReader;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await body.ReadAsync(deadline).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                Refuse(context, StatusCode.DeadlineExceeded, $"no hello within {timeout}: a Job stream must start with an encrypted JobRequest");
                return false;
            }
            catch (Exception exception) when (exception is OperationCanceledException or IOException or ConnectionAbortedException)
            {
                // The client reset the stream or closed the connection: nothing to answer, nothing wrong on our side.
                Log.StreamAbandonedBeforeHello(logger, context.Connection.Id);
                return false;
            }

            var buffer = read.Buffer;
            if (buffer.Length >= PrefixBytes)
            {
                var length = ReadLength(buffer);
                if (length > MaxHelloBytes)
                {
                    body.AdvanceTo(buffer.Start, buffer.End);
                    Refuse(context, StatusCode.ResourceExhausted, $"the hello announces {length} bytes; a hello is at most {MaxHelloBytes}");
                    return false;
                }

                if (buffer.Length >= PrefixBytes + length)
                {
                    // Nothing consumed: the handler reads the hello from the start.
                    body.AdvanceTo(buffer.Start, buffer.Start);
                    return true;
                }
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                body.AdvanceTo(buffer.Start, buffer.Start);
                if (buffer.Length == 0)
                {
                    // No hello at all: the handler answers "missing hello", as NetBird does.
                    return true;
                }

                Refuse(context, StatusCode.InvalidArgument, "incomplete hello: the request stream ended inside the first message");
                return false;
            }

            // Examined everything, consumed nothing: the next read waits for more bytes.
            body.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static long ReadLength(ReadOnlySequence<byte> buffer)
    {
        Span<byte> prefix = stackalloc byte[PrefixBytes];
        buffer.Slice(0, PrefixBytes).CopyTo(prefix);
        return BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
    }

    private static void Cancel(CancellationTokenSource deadline)
    {
        try
        {
            deadline.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The hello arrived at the same moment.
        }
    }

    private bool TryEnter(string connection, ManagementOptions settings)
    {
        lock (_gate)
        {
            _awaitingPerConnection.TryGetValue(connection, out var onConnection);
            if (_awaiting >= settings.MaxStreamsAwaitingHello || onConnection >= settings.MaxStreamsAwaitingHelloPerConnection)
            {
                return false;
            }

            _awaitingPerConnection[connection] = onConnection + 1;
            _awaiting++;
            return true;
        }
    }

    private void Leave(string connection)
    {
        lock (_gate)
        {
            _awaiting--;
            if (_awaitingPerConnection[connection] == 1)
            {
                _awaitingPerConnection.Remove(connection);
            }
            else
            {
                _awaitingPerConnection[connection]--;
            }
        }
    }

    /// <summary>Ends the call with a gRPC status and no messages (a trailers-only response), without running the handler.</summary>
    private void Refuse(HttpContext context, StatusCode status, string detail)
    {
        metrics.StreamRefused(status);
        Log.HandshakeRefused(logger, status, detail, "(no hello yet)");
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(detail);
    }
}
