using Microsoft.Extensions.Options;

namespace Reactive.Management.Hosting.Internal;

/// <summary>The ranges declared on <see cref="ManagementOptions"/>' properties, checked by generated code.</summary>
[OptionsValidator]
internal sealed partial class ManagementOptionsRanges : IValidateOptions<ManagementOptions>;

/// <summary>
/// Rejects options the server cannot run with, naming the setting as it is configured (<c>Management:Name</c>): the
/// declared ranges, then the rules that span several options.
/// </summary>
internal sealed class ManagementOptionsValidator : IValidateOptions<ManagementOptions>
{
    private readonly ManagementOptionsRanges _ranges = new();

    public ValidateOptionsResult Validate(string? name, ManagementOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (_ranges.Validate(name, options) is { Failed: true, Failures: { } outOfRange })
        {
            // The generated messages start with the property name ("MaxMessageSize: The field …"): say it as configured.
            failures.AddRange(outOfRange.Select(failure => $"{ManagementOptions.SectionName}:{failure}"));
        }

        if (options.HeartbeatScheduler is not (ManagementOptions.HeartbeatSchedulers.Wheel or ManagementOptions.HeartbeatSchedulers.Default))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.HeartbeatScheduler)} must be '{ManagementOptions.HeartbeatSchedulers.Wheel}' or '{ManagementOptions.HeartbeatSchedulers.Default}'; got '{options.HeartbeatScheduler}'.");
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

        if (options.Store == ManagementOptions.StoreKinds.Sqlite && string.IsNullOrWhiteSpace(options.SqlitePath))
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.SqlitePath)} must name a file when the store is '{ManagementOptions.StoreKinds.Sqlite}'.");
        }

        if (options.ApiToken is { } token && token.Any(char.IsWhiteSpace))
        {
            // Never echo the token itself.
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ApiToken)} must not contain spaces; leave it unset to have one generated.");
        }

        foreach (var (named, i) in options.ApiTokens.Select((named, i) => (named, i)))
        {
            var where = $"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ApiTokens)}:{i}";
            if (string.IsNullOrWhiteSpace(named.Name))
            {
                failures.Add($"{where}:Name is required.");
            }

            if (named.Sha256.Length != 64 || !named.Sha256.All(char.IsAsciiHexDigit))
            {
                failures.Add($"{where}:Sha256 must be the token's SHA-256 as 64 hexadecimal digits (printf %s \"$TOKEN\" | sha256sum).");
            }

            if (named.Scopes.FirstOrDefault(scope => !ApiScopes.All.Contains(scope)) is { } unknown)
            {
                failures.Add($"{where}:Scopes: '{unknown}' is not a scope; the scopes are {string.Join(", ", ApiScopes.All)}.");
            }
        }

        foreach (var (hook, i) in options.Webhooks.Select((hook, i) => (hook, i)))
        {
            var where = $"{ManagementOptions.SectionName}:{nameof(ManagementOptions.Webhooks)}:{i}";
            if (!Uri.TryCreate(hook.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                failures.Add($"{where}:Url must be an absolute http(s) URL.");
            }

            if (hook.Secret.Length < ManagementOptions.ApiTokenMinLength)
            {
                // Never echo the secret.
                failures.Add($"{where}:Secret must be at least {ManagementOptions.ApiTokenMinLength} characters.");
            }

            if (hook.Types.FirstOrDefault(type => !Events.ManagementEventTypes.All.Contains(type)) is { } unknown)
            {
                failures.Add($"{where}:Types: '{unknown}' is not an event type; the types are {string.Join(", ", Events.ManagementEventTypes.All)}.");
            }

            if (hook.MaxAttempts is < 1 or > 100)
            {
                failures.Add($"{where}:MaxAttempts must be 1 to 100.");
            }

            if (hook.FirstRetryAfter <= TimeSpan.Zero || hook.FirstRetryAfter > TimeSpan.FromHours(1) || hook.Timeout <= TimeSpan.Zero || hook.Timeout > TimeSpan.FromMinutes(5))
            {
                failures.Add($"{where}: FirstRetryAfter must be more than 0 and at most 1 h, Timeout more than 0 and at most 5 min.");
            }
        }

        if (options.ApiTokens.GroupBy(named => named.Name, StringComparer.Ordinal).FirstOrDefault(group => group.Count() > 1) is { } twice)
        {
            failures.Add($"{ManagementOptions.SectionName}:{nameof(ManagementOptions.ApiTokens)}: the name '{twice.Key}' is used twice.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
