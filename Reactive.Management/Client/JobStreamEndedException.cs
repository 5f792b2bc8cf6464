namespace Reactive.Management.Client;

/// <summary>The server ended the Job stream with OK (for instance: a newer stream of this peer replaced it).</summary>
public sealed class JobStreamEndedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JobStreamEndedException()
        : base("the server ended the Job stream")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public JobStreamEndedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public JobStreamEndedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
