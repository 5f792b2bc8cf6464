using System.Security.Cryptography;

namespace Reactive.Management.Crypto;

/// <summary>
/// NaCl <c>box</c> (X25519 + XSalsa20-Poly1305) with a precomputed shared key, byte-compatible with
/// Go's <c>golang.org/x/crypto/nacl/box</c> as NetBird uses it: <c>nonce(24) || tag(16) || ciphertext</c>.
/// </summary>
/// <remarks>
/// The X25519 agreement (<c>crypto_box_beforenm</c>) is done once, when the key is created; sealing and
/// opening then cost one XSalsa20-Poly1305 pass each. Dispose the key to wipe it.
/// </remarks>
internal sealed class NaClBox : IDisposable
{
    /// <summary>Bytes a sealed body adds to its plaintext: the nonce and the Poly1305 tag.</summary>
    public const int Overhead = Libsodium.NonceBytes + Libsodium.MacBytes;

    private readonly byte[] _sharedKey = new byte[Libsodium.SharedKeyBytes];

    private NaClBox()
    {
    }

    /// <summary>Precomputes the shared key between <paramref name="ours"/> and <paramref name="theirs"/>.</summary>
    /// <exception cref="CryptographicException">Their key is a low-order point (no shared secret).</exception>
    public static NaClBox Create(WireGuardPublicKey theirs, WireGuardKeyPair ours)
    {
        ArgumentNullException.ThrowIfNull(theirs);
        ArgumentNullException.ThrowIfNull(ours);
        Libsodium.EnsureInitialized();
        var box = new NaClBox();
        if (Libsodium.BoxBeforeNm(box._sharedKey, theirs.Bytes, ours.PrivateKeyBytes) != 0)
        {
            box.Dispose();
            throw new CryptographicException("The peer's public key does not give a shared secret (low-order point).");
        }

        return box;
    }

    /// <summary>Seals <paramref name="plaintext"/> with a fresh random nonce.</summary>
    /// <returns>A new array: nonce, tag, ciphertext.</returns>
    public byte[] Seal(ReadOnlySpan<byte> plaintext)
    {
        var output = new byte[Overhead + plaintext.Length];
        Libsodium.RandomBytes(output.AsSpan(0, Libsodium.NonceBytes), Libsodium.NonceBytes);
        SealWithNonce(plaintext, output);
        return output;
    }

    /// <summary>
    /// Seals with the nonce already in the first 24 bytes of <paramref name="output"/>; for known-answer tests.
    /// Never reuse a nonce with the same key.
    /// </summary>
    internal void SealWithNonce(ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        if (output.Length != Overhead + plaintext.Length)
        {
            throw new ArgumentException("The output must hold nonce, tag and ciphertext.", nameof(output));
        }

        var nonce = output[..Libsodium.NonceBytes];
        if (Libsodium.BoxEasyAfterNm(output[Libsodium.NonceBytes..], plaintext, (ulong)plaintext.Length, nonce, _sharedKey) != 0)
        {
            throw new CryptographicException("crypto_box_easy_afternm failed.");
        }
    }

    /// <summary>Opens a body written as nonce, tag, ciphertext.</summary>
    /// <returns>false when the body is too short or fails authentication (wrong key, tampered, truncated).</returns>
    public bool TryOpen(ReadOnlySpan<byte> sealedBody, out byte[] plaintext)
    {
        if (sealedBody.Length < Overhead)
        {
            plaintext = [];
            return false;
        }

        var buffer = new byte[sealedBody.Length - Overhead];
        var nonce = sealedBody[..Libsodium.NonceBytes];
        var box = sealedBody[Libsodium.NonceBytes..];
        if (Libsodium.BoxOpenEasyAfterNm(buffer, box, (ulong)box.Length, nonce, _sharedKey) != 0)
        {
            plaintext = [];
            return false;
        }

        plaintext = buffer;
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => Libsodium.MemZero(_sharedKey, (nuint)_sharedKey.Length);
}
