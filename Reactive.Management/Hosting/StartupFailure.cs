using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting;

/// <summary>Turns an exception that stopped the host from starting into the one line an operator needs.</summary>
public static class StartupFailure
{
    /// <summary>
    /// The failure in one line: what failed, naming the file, address or setting where the exception does (the
    /// library's do), without a stack trace. Wrappers (aggregate, invocation) are looked through.
    /// </summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        while (exception is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && exception.InnerException is not null)
        {
            exception = exception.InnerException!;
        }

        var message = exception switch
        {
            OptionsValidationException invalid => "invalid settings: " + string.Join(" ", invalid.Failures),
            AggregateException many => string.Join("; ", many.InnerExceptions.Select(Describe)),
            _ => exception.Message,
        };
        return message.ReplaceLineEndings(" ");
    }
}
