using Google.Protobuf;

namespace Reactive.Management.Jobs;

/// <summary>
/// Job ids: a random <see cref="Guid"/>, 16 bytes (big-endian, RFC 9562 order) in <c>JobRequest.ID</c>
/// and <c>JobResponse.ID</c>, the usual hyphenated text in the HTTP API.
/// </summary>
public static class JobIds
{
    /// <summary>A new random id.</summary>
    public static Guid New() => Guid.NewGuid();

    /// <summary>The id's wire bytes.</summary>
    public static ByteString ToWire(Guid id) => UnsafeByteOperations.UnsafeWrap(id.ToByteArray(bigEndian: true));

    /// <summary>Reads an id from wire bytes; false when they are not 16 bytes.</summary>
    public static bool TryFromWire(ByteString bytes, out Guid id)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length != 16)
        {
            id = Guid.Empty;
            return false;
        }

        id = new Guid(bytes.Span, bigEndian: true);
        return true;
    }
}
