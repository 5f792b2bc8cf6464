using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Net.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.LoadTest;

/// <summary>
/// Hellos for a client that has no NaCl box of its own: each line is one gRPC message (flag, 4-byte length, an
/// <see cref="EncryptedMessage"/> sealed by a fresh peer key to the server's key), base64. A hold-only or
/// heartbeat-only run needs nothing else from the client.
/// </summary>
internal static class SealedHellos
{
    public static async Task<int> WriteAsync(Uri target, int count, FileInfo file)
    {
        using var channel = GrpcChannel.ForAddress(target);
        var serverKey = WireGuardPublicKey.Parse((await new ManagementService.ManagementServiceClient(channel).GetServerKeyAsync(new Empty())).Key);
        await using var output = file.CreateText();
        for (var i = 0; i < count; i++)
        {
            using var keys = WireGuardKeyPair.Generate();
            using var sealing = new SealedChannel(keys, serverKey);
            var message = sealing.Seal(new JobRequest { ID = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(16)) }).ToByteArray();
            var framed = new byte[5 + message.Length];
            BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
            message.CopyTo(framed, 5);
            await output.WriteLineAsync(Convert.ToBase64String(framed));
        }

        return 0;
    }
}
