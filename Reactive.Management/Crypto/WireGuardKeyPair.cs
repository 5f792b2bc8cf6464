using System.Diagnostics.CodeAnalysis;
using NSec.Cryptography;

namespace Reactive.Management.Crypto;

/// <summary>
/// A WireGuard key pair (X25519). The private key is written as standard base64, like <c>wg genkey</c>.
/// </summary>
/// <remarks>The private key never appears in <see cref="ToString"/>; dispose the pair to wipe it from memory.</remarks>
public sealed class WireGuardKeyPair : IDisposable
{
    private readonly byte[] _privateKey;

    private WireGuardKeyPair(byte[] privateKey, WireGuardPublicKey publicKey)
    {
        _privateKey = privateKey;
        PublicKey = publicKey;
    }

    /// <summary>The public half, safe to share and log.</summary>
    public WireGuardPublicKey PublicKey { get; }

    internal ReadOnlySpan<byte> PrivateKeyBytes => _privateKey;

    /// <summary>Generates a new random key pair.</summary>
    public static WireGuardKeyPair Generate()
    {
        using var key = Key.Create(KeyAgreementAlgorithm.X25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return FromKey(key);
    }

    /// <summary>Creates the pair from a base64 private key (the <c>wg genkey</c> format).</summary>
    /// <exception cref="FormatException">The text is not base64 of 32 bytes.</exception>
    public static WireGuardKeyPair FromPrivateKey(string base64PrivateKey) =>
        TryFromPrivateKey(base64PrivateKey, out var pair)
            ? pair
            : throw new FormatException("A WireGuard private key is 32 bytes in standard base64 (44 characters ending in '=').");

    /// <summary>Tries to create the pair from a base64 private key.</summary>
    public static bool TryFromPrivateKey([NotNullWhen(true)] string? base64PrivateKey, [NotNullWhen(true)] out WireGuardKeyPair? pair)
    {
        pair = null;
        var text = base64PrivateKey?.Trim();
        if (text is null || text.Length != 44)
        {
            return false;
        }

        Span<byte> raw = stackalloc byte[33];
        try
        {
            if (!Convert.TryFromBase64String(text, raw, out var written) || written != Libsodium.SecretKeyBytes)
            {
                return false;
            }

            if (!Key.TryImport(KeyAgreementAlgorithm.X25519, raw[..Libsodium.SecretKeyBytes], KeyBlobFormat.RawPrivateKey, out var key, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }))
            {
                return false;
            }

            using (key)
            {
                pair = FromKey(key!);
                return true;
            }
        }
        finally
        {
            raw.Clear();
        }
    }

    /// <summary>The private key in standard base64. Handle with care: this is the secret.</summary>
    public string ExportPrivateKey() => Convert.ToBase64String(_privateKey);

    /// <summary>Only the public key, never the private one.</summary>
    public override string ToString() => PublicKey.ToString();

    /// <inheritdoc />
    public void Dispose() => Array.Clear(_privateKey);

    private static WireGuardKeyPair FromKey(Key key)
    {
        var privateKey = key.Export(KeyBlobFormat.RawPrivateKey);
        var publicKey = WireGuardPublicKey.FromBytes(key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        return new WireGuardKeyPair(privateKey, publicKey);
    }
}
