using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting.Internal;

/// <summary>Rejects options the server cannot run with, naming the setting and the accepted range.</summary>
internal sealed class ManagementOptionsValidator : IValidateOptions<ManagementOptions>
{
    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        var failures = new List<string>();
        if (options.HeartbeatInterval <= TimeSpan.Zero || options.HeartbeatInterval > ManagementOptions.MaxHeartbeatInterval)
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.HeartbeatInterval)} must be more than 0 and at most {ManagementOptions.MaxHeartbeatInterval}; got {options.HeartbeatInterval}.");
        }

        if (string.IsNullOrWhiteSpace(options.ServerKeyPath))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ServerKeyPath)} must name a file.");
        }

        if (options.ServerKeyValidity <= TimeSpan.Zero)
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ServerKeyValidity)} must be more than 0; got {options.ServerKeyValidity}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
