using System.Diagnostics.CodeAnalysis;
using NSec.Cryptography;

namespace Reactive.Management.Crypto;

/// <summary>
/// A WireGuard public key: a Curve25519 (X25519) point, 32 bytes, written as standard base64 (44 characters).
/// </summary>
public sealed class WireGuardPublicKey : IEquatable<WireGuardPublicKey>
{
    /// <summary>Length of a key in bytes.</summary>
    public const int Length = 32;

    private readonly byte[] _bytes;
    private readonly string _base64;

    private WireGuardPublicKey(byte[] bytes)
    {
        _bytes = bytes;
        _base64 = Convert.ToBase64String(bytes);
    }

    /// <summary>The raw 32 bytes.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Creates a key from its raw 32 bytes.</summary>
    /// <exception cref="FormatException">The span is not 32 bytes or not an X25519 public key.</exception>
    public static WireGuardPublicKey FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length || !PublicKey.TryImport(KeyAgreementAlgorithm.X25519, bytes, KeyBlobFormat.RawPublicKey, out _))
        {
            throw new FormatException($"A WireGuard public key is {Length} bytes; got {bytes.Length}.");
        }

        return new WireGuardPublicKey(bytes.ToArray());
    }

    /// <summary>Parses a key in WireGuard's standard base64 form.</summary>
    /// <exception cref="FormatException">The text is not base64 of exactly 32 bytes.</exception>
    public static WireGuardPublicKey Parse(string text) =>
        TryParse(text, out var key)
            ? key
            : throw new FormatException("A WireGuard public key is 32 bytes in standard base64 (44 characters ending in '=').");

    /// <summary>Tries to parse a key in WireGuard's standard base64 form.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out WireGuardPublicKey? key)
    {
        key = null;
        if (text is null || text.Length != 44)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[33];
        if (!Convert.TryFromBase64String(text, bytes, out var written) || written != Length)
        {
            return false;
        }

        if (!PublicKey.TryImport(KeyAgreementAlgorithm.X25519, bytes[..Length], KeyBlobFormat.RawPublicKey, out _))
        {
            return false;
        }

        key = new WireGuardPublicKey(bytes[..Length].ToArray());
        return true;
    }

    /// <summary>
    /// Whether the key is one of Curve25519's low-order points: any party's agreement with it gives the same all-zero
    /// secret, so it proves nothing and is refused everywhere (the Job stream and the API alike).
    /// </summary>
    public bool IsLowOrder
    {
        get
        {
            Libsodium.EnsureInitialized();
            Span<byte> shared = stackalloc byte[32];
            // libsodium refuses (returns -1) when the agreement comes out all zero, whatever our scalar is.
            var refused = Libsodium.BoxBeforeNm(shared, _bytes, LowOrderProbe) != 0;
            Libsodium.MemZero(shared, (nuint)shared.Length);
            return refused;
        }
    }

    // Any scalar serves: a low-order point times any clamped scalar is the identity.
    private static ReadOnlySpan<byte> LowOrderProbe => [0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42];

    /// <summary>The key in standard base64, as WireGuard and NetBird write it.</summary>
    public override string ToString() => _base64;

    /// <inheritdoc />
    public bool Equals(WireGuardPublicKey? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is WireGuardPublicKey other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(_bytes, 0);
}
