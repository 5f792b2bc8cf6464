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

        if (options.Store is not (ManagementOptions.StoreKinds.Sqlite or ManagementOptions.StoreKinds.Memory))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.Store)} must be '{ManagementOptions.StoreKinds.Sqlite}' or '{ManagementOptions.StoreKinds.Memory}'; got '{options.Store}'.");
        }

        if (options.Store == ManagementOptions.StoreKinds.Sqlite && string.IsNullOrWhiteSpace(options.SqlitePath))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.SqlitePath)} must name a file when the store is '{ManagementOptions.StoreKinds.Sqlite}'.");
        }

        if (options.AnswerTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.AnswerTimeout)} must be more than 0; got {options.AnswerTimeout}.");
        }

        if (options.PendingTimeToLive <= TimeSpan.Zero)
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.PendingTimeToLive)} must be more than 0; got {options.PendingTimeToLive}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
