using Microsoft.Extensions.Options;
using Reactive.Management.Hosting.Api;

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

        if (options.Store is not (ManagementOptions.StoreKinds.Sqlite or ManagementOptions.StoreKinds.Memory or ManagementOptions.StoreKinds.Postgres))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.Store)} must be '{ManagementOptions.StoreKinds.Sqlite}', '{ManagementOptions.StoreKinds.Postgres}' or '{ManagementOptions.StoreKinds.Memory}'; got '{options.Store}'.");
        }

        if (options.Store == ManagementOptions.StoreKinds.Postgres)
        {
            if (string.IsNullOrWhiteSpace(options.PostgresConnectionString))
            {
                failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.PostgresConnectionString)} must be set when the store is '{ManagementOptions.StoreKinds.Postgres}'.");
            }
            else
            {
                try
                {
                    _ = new Npgsql.NpgsqlConnectionStringBuilder(options.PostgresConnectionString);
                }
                catch (ArgumentException exception)
                {
                    // The message names the bad keyword, never the password.
                    failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.PostgresConnectionString)} is not a valid connection string: {exception.Message}");
                }
            }
        }

        if (options.PostgresPollInterval <= TimeSpan.Zero || options.PostgresPollInterval > TimeSpan.FromHours(1))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.PostgresPollInterval)} must be more than 0 and at most 01:00:00; got {options.PostgresPollInterval}.");
        }

        if (string.IsNullOrWhiteSpace(options.ReplicaName))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ReplicaName)} must not be empty.");
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

        if (options.StuckWriteTimeout <= TimeSpan.Zero || options.StuckWriteTimeout > TimeSpan.FromHours(1))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.StuckWriteTimeout)} must be more than 0 and at most 01:00:00; got {options.StuckWriteTimeout}.");
        }

        if (options.HelloTimeout <= TimeSpan.Zero || options.HelloTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.HelloTimeout)} must be more than 0 and at most 00:05:00; got {options.HelloTimeout}.");
        }

        AddIfOutside(failures, nameof(ManagementOptions.MaxStreamsAwaitingHello), options.MaxStreamsAwaitingHello, 1, int.MaxValue);
        AddIfOutside(failures, nameof(ManagementOptions.MaxStreamsAwaitingHelloPerConnection), options.MaxStreamsAwaitingHelloPerConnection, 1, int.MaxValue);
        AddIfOutside(failures, nameof(ManagementOptions.MaxQueuedJobsPerStream), options.MaxQueuedJobsPerStream, 1, 10_000);
        AddIfOutside(failures, nameof(ManagementOptions.MaxMessageSize), options.MaxMessageSize, 1024, 16 * 1024 * 1024);
        AddIfOutside(failures, nameof(ManagementOptions.MaxConcurrentStreams), options.MaxConcurrentStreams, 1, int.MaxValue);
        AddIfOutside(failures, nameof(ManagementOptions.MaxJobsPerSecond), options.MaxJobsPerSecond, 1, int.MaxValue);
        AddIfOutside(failures, nameof(ManagementOptions.JobCreationBurst), options.JobCreationBurst, 1, int.MaxValue);
        if (options.ApiToken is { } token && (token.Length < ApiAccess.MinTokenLength || token.Any(char.IsWhiteSpace)))
        {
            // Never echo the token itself.
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ApiToken)} must be at least {ApiAccess.MinTokenLength} characters without spaces (got {token.Length} characters); leave it unset to have one generated.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void AddIfOutside(List<string> failures, string setting, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            var range = max == int.MaxValue ? $"at least {min}" : $"{min} to {max}";
            failures.Add($"{ManagementOptions.SectionName}:{setting} must be {range}; got {value}.");
        }
    }
}
