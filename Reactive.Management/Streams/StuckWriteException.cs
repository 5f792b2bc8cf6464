namespace Reactive.Management.Streams;

/// <summary>A write to a stream stayed pending longer than its limit: the reader has stopped reading.</summary>
public sealed class StuckWriteException : TimeoutException
{
    /// <summary>Creates the exception for a write pending longer than <paramref name="limit"/>.</summary>
    public StuckWriteException(TimeSpan limit)
        : base($"A write was still pending after {limit}: the reader has stopped reading.") => Limit = limit;

    /// <summary>Creates the exception for a write pending longer than <paramref name="limit"/>, cancelled with <paramref name="innerException"/>.</summary>
    public StuckWriteException(TimeSpan limit, Exception innerException)
        : base($"A write was still pending after {limit}: the reader has stopped reading.", innerException) => Limit = limit;

    /// <summary>Creates the exception with a message.</summary>
    public StuckWriteException()
        : base("A write stayed pending too long: the reader has stopped reading.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public StuckWriteException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public StuckWriteException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>How long the write was allowed to take.</summary>
    public TimeSpan Limit { get; }
}
