using System.Reactive.Linq;
using Google.Protobuf;
using Reactive.Management.Crypto;
using Reactive.Management.Protocol;

namespace Reactive.Management.Streams;

/// <summary>Encryption as a step of a message sequence.</summary>
public static class SealingObservableExtensions
{
    /// <summary>Seals each message with <paramref name="channel"/> (NaCl box with its precomputed key).</summary>
    /// <remarks>
    /// Synchronous and untimed: each message is sealed on the thread that produced it. A sealing failure
    /// ends the sequence with that error.
    /// </remarks>
    public static IObservable<EncryptedMessage> Seal<T>(this IObservable<T> source, SealedChannel channel)
        where T : IMessage
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(channel);
        return source.Select(message => channel.Seal(message));
    }
}
