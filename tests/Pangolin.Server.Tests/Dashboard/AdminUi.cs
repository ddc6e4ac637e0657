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

    /// <summary>
    /// Ticks or unticks a MudCheckBox whose input carries the data-test: clicks its label once the label is visible and
    /// still (a forced click on the hidden input could land on the backdrop of a dialog that is still opening, and close
    /// it), then waits until the box shows the state.
    /// </summary>
    public static async Task SetCheckedAsync(ILocator input, bool on)
    {
        await input.Locator("xpath=ancestor::label[1]").ClickAsync();
        await Assertions.Expect(input).ToBeCheckedAsync(new() { Checked = on });
    }
}
