using System.Text.RegularExpressions;
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

    /// <summary>
    /// Picks an option of a MudSelect and waits until its list has closed: the list closes once the server has taken the
    /// choice, so a click that follows (Apply, Save) cannot overtake it.
    /// </summary>
    public static async Task SelectAsync(IPage page, string dataTest, string option)
    {
        await page.Locator($"[data-test={dataTest}]").ClickAsync(new() { Force = true });
        await page.Locator(".mud-popover-open .mud-list-item")
            .Filter(new() { HasTextRegex = new Regex($"^\\s*{Regex.Escape(option)}\\s*$") }).ClickAsync();
        await Assertions.Expect(page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }
}
