using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A test that needs PostgreSQL. Locally, without it, the test is skipped with a message saying how to install it;
/// under <c>CI=true</c> it runs anyway and fails, because CI must have installed it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (!PostgresCluster.IsAvailable && !ci)
        {
            Skip = "PostgreSQL is not installed: run 'bash .ci/install-postgres.sh' (Debian package postgresql), or set REACTIVE_MANAGEMENT_POSTGRES to a server's connection string.";
        }
    }
}
