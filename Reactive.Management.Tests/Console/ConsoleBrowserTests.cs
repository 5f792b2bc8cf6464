using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Reactive.Management.Client;
using Reactive.Management.Crypto;
using Reactive.Management.Jobs;
using Reactive.Management.Peers;
using Reactive.Management.Protocol;
using Reactive.Management.Tests.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Reactive.Management.Tests.Console;

/// <summary>
/// The operator console in a real browser (headless Chromium driven by Selenium) against a real host (Kestrel, the API
/// behind a token) and a real peer (<see cref="JobStreamClient"/>) that answers its jobs.
/// </summary>
public sealed class ConsoleBrowserTests(ITestOutputHelper output)
{
    private const string Token = "console-test-token-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [ChromiumFact]
    public async Task The_console_shows_a_connected_peer_gets_its_bundle_and_sees_it_go_offline_without_a_reload()
    {
        var started = Stopwatch.StartNew();
        var httpPort = LoopbackPorts.Free();
        await using var server = await ManagementServer.StartAsync(
            options =>
            {
                options.ApiToken = Token;
                options.HeartbeatInterval = TimeSpan.FromSeconds(1);
            },
            kestrel: kestrel => kestrel.Listen(IPAddress.Loopback, httpPort, listen => listen.Protocols = HttpProtocols.Http1));
        using var keys = WireGuardKeyPair.Generate();
        var (peer, _) = await server.Service<IPeerRegistry>().RegisterAsync(keys.PublicKey, "demo-peer");
        var client = JobStreamClient.Create(server.Address, keys);
        using var answering = client.Jobs.Subscribe(job => client.Answer(new JobResponse
        {
            ID = job.ID,
            Status = Protocol.JobStatus.Succeeded,
            Bundle = new BundleResult { UploadKey = "uploads/from-the-browser-test.zip" },
        }));
        client.Start();
        await Eventually.TrueAsync(() => server.Service<JobHub>().IsConnected(keys.PublicKey), "the demo peer's stream");

        using var browser = StartBrowser();
        var wait = Waiting(browser);
        browser.Navigate().GoToUrl($"http://127.0.0.1:{httpPort}/");
                var loadedAt = browser.ExecuteScript("return performance.timeOrigin");

        // The API answers 401: the page asks for the token (keyboard: it has the focus), then shows the peer.
        var token = wait.Until(driver => driver.FindElement(By.Id("token")) is { Displayed: true } field ? field : null);
        Assert.Equal("token", browser.SwitchTo().ActiveElement().GetAttribute("id"));
        token.SendKeys(Token + Keys.Enter);
        wait.Until(_ => PeerStatus(browser, peer.Id) == "connected");
        wait.Until(_ => TextOf(browser, $"tr[data-peer-id='{peer.Id}'] td.heartbeat")?.EndsWith(" s ago", StringComparison.Ordinal) == true);

        // A bundle requested from the page: its row goes to succeeded when the peer answers, pushed over /api/events.
        browser.FindElement(By.Id("request-button")).Click();
        var jobId = wait.Until(_ => browser.ExecuteScript("return document.querySelector('#jobs tbody tr')?.dataset.jobId ?? null") as string);
        wait.Until(_ => StatusOfJob(browser, jobId) == "succeeded");
        // Where the bundle went, read once the job has succeeded.
        wait.Until(_ => TextOf(browser, $"tr[data-job-id='{jobId}'] td:last-child") == "uploads/from-the-browser-test.zip");
        Assert.Equal(JobState.Succeeded, (await server.Service<IJobStore>().FindAsync(Guid.Parse(jobId)))?.State);
        Assert.Contains("created", browser.FindElement(By.Id("request-result")).Text, StringComparison.Ordinal);

        // The charts have two samples of the stats (one heartbeat rate) before the picture is taken.
        wait.Until(driver => driver.FindElement(By.Id("value-heartbeats")).Text != "–");
        var screenshot = SaveScreenshot(browser);

        // The peer goes away: its row turns offline, pushed by the event stream, on the same page (no reload).
        client.Dispose();
        wait.Until(_ => PeerStatus(browser, peer.Id) == "offline");
        Assert.Equal(loadedAt, browser.ExecuteScript("return performance.timeOrigin"));

        var errors = browser.Manage().Logs.GetLog(LogType.Browser).Where(entry => entry.Level >= LogLevel.Severe).ToList();
        Assert.True(errors.Count == 0, "the browser console has errors:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(entry => entry.Message)));
        output.WriteLine($"console in headless Chromium: token asked and taken, peer connected, bundle {jobId} succeeded, peer offline without a reload; no console errors; {started.Elapsed.TotalSeconds:F1} s in all; screenshot {screenshot}");
    }

    [ChromiumFact]
    public async Task A_fan_out_from_the_page_with_a_cap_of_one_reaches_every_chosen_peer_and_every_control_has_a_name()
    {
        var (server, httpPort) = await StartOpenHostAsync();
        await using var _ = server;
        await using var fleet = await AnsweringPeers.RegisterAsync(server.Service<IPeerRegistry>(), 3, seed: 17);
        await fleet.ConnectAsync(server, 0, 3, maxAnswerDelay: TimeSpan.FromMilliseconds(50));

        using var browser = StartBrowser();
        var wait = Waiting(browser);
        // On loopback with no token set the API is open: the page does not ask.
        browser.Navigate().GoToUrl($"http://127.0.0.1:{httpPort}/");
        wait.Until(_ => CountWithText(browser, "#peers td.status", "connected") == 3);
        Assert.False(browser.FindElement(By.Id("token-section")).Displayed);

        // Every form control and chart has an accessible name (a label, or aria-labelledby).
        var unnamed = browser.ExecuteScript(
            """
            return [...document.querySelectorAll("input, select, button, canvas")]
                .filter((element) => !(element.labels && element.labels.length) && !element.getAttribute("aria-labelledby") && !element.textContent.trim())
                .map((element) => element.id || element.outerHTML);
            """) as IReadOnlyCollection<object>;
        Assert.Empty(unnamed!);

        // Keyboard only: "several peers", every peer chosen, a cap of 1, then submit.
        browser.FindElement(By.CssSelector("input[name=target][value=many]")).SendKeys(Keys.Space);
        var select = browser.FindElement(By.Id("peer-select"));
        select.SendKeys(Keys.Home);
        select.SendKeys(Keys.Shift + Keys.End + Keys.Shift);
        var cap = browser.FindElement(By.Id("max-in-flight"));
        cap.Clear();
        cap.SendKeys("1");
        cap.SendKeys(Keys.Enter);

        wait.Until(driver => driver.FindElement(By.Id("request-result")).Text.Contains("3 jobs, at most 1 at once", StringComparison.Ordinal));
        wait.Until(_ => CountWithText(browser, "#jobs td.status", "succeeded") == 3);
        Assert.Equal(3, fleet.Deliveries.Count);
        Assert.All(fleet.Deliveries.Values, times => Assert.Equal(1, times));
        var errors = browser.Manage().Logs.GetLog(LogType.Browser).Where(entry => entry.Level >= LogLevel.Severe).ToList();
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors.Select(entry => entry.Message)));
    }

    [ChromiumFact]
    public async Task With_300_peers_the_page_shows_200_says_so_and_finds_one_by_name_to_ask_for_its_bundle()
    {
        var (server, httpPort) = await StartOpenHostAsync();
        await using var _ = server;
        await using var fleet = await AnsweringPeers.RegisterAsync(server.Service<IPeerRegistry>(), 300, seed: 23);
        // Two connected, far apart in the sorted names ("fleet-1…" comes first, "fleet-99" last).
        await fleet.ConnectAsync(server, 98, 100, maxAnswerDelay: TimeSpan.FromMilliseconds(10));
        var wanted = fleet.Peers[99].Peer;

        using var browser = StartBrowser();
        var wait = Waiting(browser);
        browser.Navigate().GoToUrl($"http://127.0.0.1:{httpPort}/");
        wait.Until(_ => RowCount(browser, "#peers tbody tr") == 200);
        Assert.Equal("Showing 200 of 300 peers found (300 in all): narrow them with Find.", TextOf(browser, "#peers-shown"));
        Assert.Null(TextOf(browser, $"tr[data-peer-id='{wanted.Id}'] td.status"));

        // Found by name, typed as an operator would; then by status.
        var find = browser.FindElement(By.Id("peer-filter"));
        find.SendKeys("fleet-99");
        wait.Until(_ => RowCount(browser, "#peers tbody tr") == 1 && PeerStatus(browser, wanted.Id) == "connected");
        Assert.Equal("1 of 300 peers found.", TextOf(browser, "#peers-shown"));
        find.Clear();
        find.SendKeys("connected");
        wait.Until(_ => RowCount(browser, "#peers tbody tr") == 2);

        // The form offers the peers found: the one found by name is the only choice, and its bundle comes back.
        find.Clear();
        find.SendKeys("fleet-99" + Keys.Enter);
        wait.Until(_ => RowCount(browser, "#peer-select option") == 1);
        browser.FindElement(By.Id("request-button")).Click();
        wait.Until(_ => CountWithText(browser, "#jobs td.status", "succeeded") == 1);
        var (jobs, total) = await server.Service<JobBoard>().ListAsync(wanted.Id, 0, 10);
        Assert.Equal(1, total);
        Assert.Equal(JobState.Succeeded, Assert.Single(jobs).State);
        var errors = browser.Manage().Logs.GetLog(LogType.Browser).Where(entry => entry.Level >= LogLevel.Severe).ToList();
        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors.Select(entry => entry.Message)));
    }

    // The page re-renders its tables as events arrive: read them in the page, in one script, never through an element
    // reference that a re-render can make stale.
    private static string? PeerStatus(ChromeDriver browser, string peerId) => TextOf(browser, $"tr[data-peer-id='{peerId}'] td.status");

    private static string? StatusOfJob(ChromeDriver browser, string jobId) => TextOf(browser, $"tr[data-job-id='{jobId}'] td.status");

    private static string? TextOf(ChromeDriver browser, string selector) =>
        browser.ExecuteScript("return document.querySelector(arguments[0])?.textContent ?? null", selector) as string;

    private static long RowCount(ChromeDriver browser, string selector) =>
        (long)browser.ExecuteScript("return document.querySelectorAll(arguments[0]).length", selector)!;

    private static long CountWithText(ChromeDriver browser, string selector, string text) =>
        (long)browser.ExecuteScript("return [...document.querySelectorAll(arguments[0])].filter((cell) => cell.textContent === arguments[1]).length", selector, text)!;

    /// <summary>A host with no API token (open on loopback) and a plain HTTP/1.1 port for the browser.</summary>
    private static async Task<(ManagementServer Server, int Port)> StartOpenHostAsync()
    {
        var httpPort = LoopbackPorts.Free();
        var server = await ManagementServer.StartAsync(
            kestrel: kestrel => kestrel.Listen(IPAddress.Loopback, httpPort, listen => listen.Protocols = HttpProtocols.Http1));
        return (server, httpPort);
    }

    private static WebDriverWait Waiting(ChromeDriver browser)
    {
        var wait = new WebDriverWait(browser, Patience);
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        return wait;
    }

    private static ChromeDriver StartBrowser()
    {
        var options = new ChromeOptions { BinaryLocation = ChromiumFactAttribute.Browser };
        // Root in CI: no sandbox; /dev/shm may be small in containers.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1200");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(ChromiumFactAttribute.Driver)!, Path.GetFileName(ChromiumFactAttribute.Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>Saves the page as a PNG among the test's artifacts (<c>REACTIVE_MANAGEMENT_ARTIFACTS</c>, else beside the tests).</summary>
    private static string SaveScreenshot(ChromeDriver browser)
    {
        var folder = Environment.GetEnvironmentVariable("REACTIVE_MANAGEMENT_ARTIFACTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "console.png");
        browser.GetScreenshot().SaveAsFile(path);
        return path;
    }
}
