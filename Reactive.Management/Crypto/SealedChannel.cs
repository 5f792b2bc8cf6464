using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Google.Protobuf;
using Reactive.Management.Protocol;

namespace Reactive.Management.Crypto;

/// <summary>
/// One side of an encrypted conversation between two WireGuard keys: seals protobuf messages into
/// <see cref="EncryptedMessage"/>s and opens the other side's, with the shared key computed once.
/// </summary>
/// <remarks>Thread-safe: sealing and opening keep no state between calls.</remarks>
public sealed class SealedChannel : IDisposable
{
    private readonly NaClBox _box;
    private readonly string _localKeyText;

    /// <summary>Creates the channel from our key pair to their public key.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">Their key gives no shared secret.</exception>
    public SealedChannel(WireGuardKeyPair local, WireGuardPublicKey remote)
    {
        ArgumentNullException.ThrowIfNull(local);
        Remote = remote ?? throw new ArgumentNullException(nameof(remote));
        _box = NaClBox.Create(remote, local);
        _localKeyText = local.PublicKey.ToString();
    }

    /// <summary>The other side's public key.</summary>
    public WireGuardPublicKey Remote { get; }

    /// <summary>Serializes and seals <paramref name="message"/>, naming our public key as the sender.</summary>
    public EncryptedMessage Seal(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var size = message.CalculateSize();
        var plaintext = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = plaintext.AsSpan(0, size);
            message.WriteTo(span);
            var body = _box.Seal(span);
            return new EncryptedMessage
            {
                WgPubKey = _localKeyText,
                // The body array is ours alone and never changed again: wrap it instead of copying.
                Body = UnsafeByteOperations.UnsafeWrap(body),
            };
        }
        finally
        {
            plaintext.AsSpan(0, size).Clear();
            ArrayPool<byte>.Shared.Return(plaintext);
        }
    }

    /// <summary>Opens and parses a message the other side sealed to us.</summary>
    /// <returns>false when the body does not authenticate or does not parse as <typeparamref name="T"/>.</returns>
    public bool TryOpen<T>(EncryptedMessage message, MessageParser<T> parser, [NotNullWhen(true)] out T? value)
        where T : IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(parser);
        value = default;
        if (!_box.TryOpen(message.Body.Span, out var plaintext))
        {
            return false;
        }

        try
        {
            value = parser.ParseFrom(plaintext);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _box.Dispose();
}
