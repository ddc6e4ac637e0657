using Microsoft.Playwright;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// One headless Chromium for the dashboard's tests: Debian's own (apt's <c>chromium</c>), driven by Playwright, so
/// nothing is downloaded. Each test opens its own context (cookies, storage) and pages.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("not started");

    /// <summary>A second browser with extra command-line switches (e.g. <c>--host-resolver-rules</c> for resource hosts).</summary>
    public Task<IBrowser> LaunchAsync(params string[] extraArgs) =>
        (_playwright ?? throw new InvalidOperationException("not started")).Chromium.LaunchAsync(Options(extraArgs));

    private static BrowserTypeLaunchOptions Options(IEnumerable<string> extraArgs) => new()
    {
        ExecutablePath = ChromiumPath,
        Headless = true,
        Args = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage", .. extraArgs],
    };

    /// <summary>Where the run leaves its screenshots: one per page and state, for a person to look at.</summary>
    public static string ScreenshotFolder { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: apt-get install chromium (.ci/run does)");
        }
        // The suite runs test classes side by side on two cores: a page may take longer than Playwright's 5 s default.
        Assertions.SetDefaultExpectTimeout(20_000);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(Options([]));
        Directory.CreateDirectory(ScreenshotFolder);
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
    }

    /// <summary>A fresh browser context (no cookies) at a desktop or a phone-sized viewport.</summary>
    public Task<IBrowserContext> NewContextAsync(string baseUrl, bool phone = false, bool dark = false) => NewContextAsync(Browser, baseUrl, phone, dark);

    public static Task<IBrowserContext> NewContextAsync(IBrowser browser, string baseUrl, bool phone = false, bool dark = false) =>
        browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl,
            ViewportSize = phone ? new ViewportSize { Width = 390, Height = 844 } : new ViewportSize { Width = 1280, Height = 800 },
            ColorScheme = dark ? ColorScheme.Dark : ColorScheme.Light,
        });

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });
}
