using System.Collections.Concurrent;
using Reactive.Management.Crypto;

namespace Reactive.Management.Hosting.Internal;

/// <summary>
/// Remembers the nonces of each peer's last accepted hellos, so that a captured hello sent again is refused.
/// </summary>
/// <remarks>
/// A peer seals every hello with a fresh random nonce, so a repeat is a replay. The memory is bounded
/// (<see cref="RememberedPerPeer"/> nonces a peer, in this process): a replay of an older hello, or one after a restart,
/// is not recognised. Such a replay gains nothing readable (the server seals to the real peer's key) and costs the
/// real peer one reconnect.
/// </remarks>
internal sealed class HelloReplayGuard
{
    public const int RememberedPerPeer = 16;

    private readonly ConcurrentDictionary<WireGuardPublicKey, Queue<UInt128>> _seen = new();

    /// <summary>Records the hello's nonce; false when this peer already used it.</summary>
    public bool TryAccept(WireGuardPublicKey peer, ReadOnlySpan<byte> body)
    {
        // The nonce is the first 24 bytes; its last 16 (random like the rest) identify it well enough.
        var nonce = NonceId(body);
        // Sized for one: most peers hold one stream for days; the queue grows (to RememberedPerPeer) as a peer reconnects.
        var seen = _seen.GetOrAdd(peer, static _ => new Queue<UInt128>(1));
        lock (seen)
        {
            if (seen.Contains(nonce))
            {
                return false;
            }

            if (seen.Count == RememberedPerPeer)
            {
                seen.Dequeue();
            }

            seen.Enqueue(nonce);
            return true;
        }
    }

    private static UInt128 NonceId(ReadOnlySpan<byte> body) =>
        body.Length < NaClBox.Overhead ? UInt128.Zero : System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(body.Slice(8, 16));
}
