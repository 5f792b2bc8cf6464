using Xunit;

namespace Reactive.Management.Tests.TestSupport;

/// <summary>
/// A test that drives a real browser: Debian's headless Chromium through its chromedriver. Locally, without them, the
/// test is skipped with a message saying how to install them; under <c>CI=true</c> it runs anyway and fails.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string Browser = "/usr/bin/chromium";
    public const string Driver = "/usr/bin/chromedriver";

    public ChromiumFactAttribute()
    {
        if ((!File.Exists(Browser) || !File.Exists(Driver)) &&
            !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "Chromium is not installed: run 'sudo bash .ci/install-browser.sh' (Debian packages chromium and chromium-driver).";
        }
    }
}
