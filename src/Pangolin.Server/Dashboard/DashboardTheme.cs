using MudBlazor;

namespace Pangolin.Server.Dashboard;

/// <summary>
/// MudBlazor's palettes with the state colours darkened (light) or lightened (dark) until text in them, and text on
/// them, reaches WCAG AA's 4.5:1 against the page: the library's defaults (a green of 2.2:1, say) do not.
/// </summary>
public static class DashboardTheme
{
    /// <summary>The cookie that keeps a person's light or dark choice; without it the browser's preference decides.</summary>
    public const string Cookie = "p_theme";

    public static MudTheme Theme { get; } = new()
    {
        PaletteLight = new PaletteLight
        {
            Success = "#2e7d32",
            Error = "#c62828",
            Warning = "#a65100",
            Info = "#0277bd",
            TextDisabled = "rgba(0,0,0,0.6)",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#a59cf3",
            PrimaryContrastText = "#1a1a27",
            Success = "#4cc38a",
            SuccessContrastText = "#000000",
            Error = "#ff8a80",
            ErrorContrastText = "#000000",
            Warning = "#ffb74d",
            WarningContrastText = "#000000",
            Info = "#74b9ff",
            InfoContrastText = "#000000",
            TextSecondary = "rgba(255,255,255,0.72)",
            TextDisabled = "rgba(255,255,255,0.6)",
        },
    };
}
