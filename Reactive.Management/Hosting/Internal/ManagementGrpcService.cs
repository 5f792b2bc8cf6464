using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Reactive.Management.Protocol;
using Empty = Reactive.Management.Protocol.Empty;

namespace Reactive.Management.Hosting.Internal;

/// <summary>The gRPC surface: thin, each call hands over to the part that does the work.</summary>
internal sealed class ManagementGrpcService(
    ServerIdentity identity,
    JobStreamHandler jobStreams,
    ManagementScheduler scheduler,
    HealthCheckService health,
    IOptionsMonitor<ManagementOptions> options) : ManagementService.ManagementServiceBase
{
    public override Task<ServerKeyResponse> GetServerKey(Empty request, ServerCallContext context) =>
        Task.FromResult(new ServerKeyResponse
        {
            Key = identity.KeyPair.PublicKey.ToString(),
            ExpiresAt = Timestamp.FromDateTimeOffset(scheduler.Scheduler.Now + options.CurrentValue.ServerKeyValidity),
            Version = 0,
        });

    public override async Task<Empty> isHealthy(Empty request, ServerCallContext context)
    {
        var report = await health.CheckHealthAsync(context.CancellationToken).ConfigureAwait(false);
        return report.Status == HealthStatus.Unhealthy
            ? throw new RpcException(new Status(StatusCode.Unavailable, "The management server is not healthy; see /healthz."))
            : new Empty();
    }

    public override Task Job(IAsyncStreamReader<EncryptedMessage> requestStream, IServerStreamWriter<EncryptedMessage> responseStream, ServerCallContext context) =>
        jobStreams.RunAsync(requestStream, responseStream, context);
}
