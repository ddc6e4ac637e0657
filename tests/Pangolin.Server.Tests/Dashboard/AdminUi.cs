using Microsoft.Playwright;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>Small browser steps the admin pages' tests share.</summary>
internal static class AdminUi
{
    /// <summary>Dark mode on, whatever the page started with (the browser's preference may have set it already).</summary>
    public static async Task DarkAsync(IPage page)
    {
        var toggle = page.Locator("[data-test=theme-toggle]");
        if (await toggle.GetAttributeAsync("aria-label") == "Dark mode")
        {
            await toggle.ClickAsync();
        }
        await Assertions.Expect(toggle).ToHaveAttributeAsync("aria-label", "Light mode");
    }
}
