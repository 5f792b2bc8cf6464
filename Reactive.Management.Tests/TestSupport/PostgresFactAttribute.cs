using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A test that needs PostgreSQL. Locally, without it, the test is skipped with a message saying how to install it;
/// under <c>CI=true</c> it runs anyway and fails, because CI must have installed it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : FactAttribute
{
    private readonly bool _withHaproxy;

    public PostgresFactAttribute()
    {
        if (!PostgresCluster.IsAvailable && !InCi)
        {
            Skip = "PostgreSQL is not installed: run 'bash .ci/install-postgres.sh' (Debian package postgresql), or set REACTIVE_MANAGEMENT_POSTGRES to a server's connection string.";
        }
    }

    /// <summary>The test also runs HAProxy in front of the replicas.</summary>
    public bool WithHaproxy
    {
        get => _withHaproxy;
        init
        {
            _withHaproxy = value;
            if (value && Skip is null && Proxies.ProxyKinds.Find(Proxies.ProxyKind.Haproxy) is null && !InCi)
            {
                Skip = "haproxy is not installed: run 'sudo bash .ci/install-proxies.sh'.";
            }
        }
    }

    private static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}
