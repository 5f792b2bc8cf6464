using Xunit;

namespace Reactive.Management.Tests.Proxies;

/// <summary>
/// A test that needs a reverse proxy binary. Locally a missing binary skips the test with a message saying how to
/// install it; under <c>CI=true</c> the test runs anyway and fails, because CI must have installed it.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ProxyFactAttribute : FactAttribute
{
    public ProxyFactAttribute(ProxyKind kind)
    {
        var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        if (kind.Find() is null && !ci)
        {
            Skip = $"{kind.Binary()} is not installed: run 'sudo bash .ci/install-proxies.sh' (Debian packages nginx-light, haproxy, caddy).";
        }
    }
}
