using System.Runtime.InteropServices;

namespace Reactive.Management.Crypto;

/// <summary>
/// The few libsodium functions NSec does not wrap: NaCl <c>crypto_box</c> (X25519 + XSalsa20-Poly1305),
/// the cipher of Go's <c>nacl/box</c> that NetBird peers use. The native library is the one NSec ships.
/// </summary>
internal static partial class Libsodium
{
    private const string Library = "libsodium";

    public const int PublicKeyBytes = 32;
    public const int SecretKeyBytes = 32;
    public const int SharedKeyBytes = 32;
    public const int NonceBytes = 24;
    public const int MacBytes = 16;

    static Libsodium()
    {
        // sodium_init is idempotent and thread-safe; 1 means "already initialised" (by NSec, usually).
        if (sodium_init() < 0)
        {
            throw new InvalidOperationException("libsodium could not be initialised.");
        }
    }

    /// <summary>Forces the static constructor (and so <c>sodium_init</c>) to run.</summary>
    public static void EnsureInitialized()
    {
    }

    [LibraryImport(Library)]
    private static partial int sodium_init();

    [LibraryImport(Library, EntryPoint = "crypto_box_beforenm")]
    public static partial int BoxBeforeNm(Span<byte> sharedKey, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> secretKey);

    [LibraryImport(Library, EntryPoint = "crypto_box_easy_afternm")]
    public static partial int BoxEasyAfterNm(Span<byte> ciphertext, ReadOnlySpan<byte> message, ulong messageLength, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sharedKey);

    [LibraryImport(Library, EntryPoint = "crypto_box_open_easy_afternm")]
    public static partial int BoxOpenEasyAfterNm(Span<byte> message, ReadOnlySpan<byte> ciphertext, ulong ciphertextLength, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> sharedKey);

    [LibraryImport(Library, EntryPoint = "randombytes_buf")]
    public static partial void RandomBytes(Span<byte> buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "sodium_memzero")]
    public static partial void MemZero(Span<byte> buffer, nuint size);
}
