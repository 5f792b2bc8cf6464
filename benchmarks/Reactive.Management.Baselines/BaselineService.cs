using System.Threading.Channels;
using Grpc.Core;
using Reactive.Management.Benchmarks;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Baselines;

internal sealed record BaselineSettings(string Mode, TimeSpan HeartbeatInterval, WireGuardKeyPair Keys);

/// <summary>The Job stream, the least a server can do (hold) or as NetBird's PR #5185 does it (ticker).</summary>
internal sealed class BaselineService(BaselineSettings settings) : ManagementService.ManagementServiceBase
{
    public override Task<ServerKeyResponse> GetServerKey(Empty request, ServerCallContext context) =>
        Task.FromResult(new ServerKeyResponse { Key = settings.Keys.PublicKey.ToString() });

    public override async Task Job(IAsyncStreamReader<EncryptedMessage> requestStream, IServerStreamWriter<EncryptedMessage> responseStream, ServerCallContext context)
    {
        var ended = context.CancellationToken;
        try
        {
            if (!await requestStream.MoveNext(ended).ConfigureAwait(false))
            {
                return;
            }

            if (settings.Mode == "hold")
            {
                await Task.Delay(Timeout.Infinite, ended).ConfigureAwait(false);
                return;
            }

            var hello = requestStream.Current;
            if (!WireGuardPublicKey.TryParse(hello.WgPubKey, out var peer))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "bad key"));
            }

            using var channel = new SealedChannel(settings.Keys, peer);
            if (!channel.TryOpen(hello, JobRequest.Parser, out _))
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "bad hello"));
            }

            // As the Go server: answers are read beside the send loop; jobs would come through the channel.
            var jobs = Channel.CreateUnbounded<JobRequest>();
            var answers = ReadAnswersAsync(requestStream, channel, ended);
            await HandWrittenJobLoop.RunAsync(jobs.Reader, channel, responseStream, settings.HeartbeatInterval, TimeProvider.System, ended).ConfigureAwait(false);
            await answers.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The peer went away.
        }
        catch (IOException) when (ended.IsCancellationRequested)
        {
        }
    }

    private static async Task ReadAnswersAsync(IAsyncStreamReader<EncryptedMessage> requests, SealedChannel channel, CancellationToken ended)
    {
        try
        {
            while (await requests.MoveNext(ended).ConfigureAwait(false))
            {
                channel.TryOpen(requests.Current, JobResponse.Parser, out _);
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException && ended.IsCancellationRequested)
        {
        }
    }
}
