using System.Globalization;

namespace Pangolin.Server.Dashboard.Shared;

/// <summary>How the sites pages write amounts and moments for a person: "1.5 GB", "2 minutes ago".</summary>
public static class SitesFormat
{
    private static readonly string[] Units = ["B", "KB", "MB", "GB", "TB", "PB"];

    /// <summary>Megabytes (as the exit node counts them, 2^20 bytes) in the largest unit that keeps the number at least 1.</summary>
    public static string Bandwidth(double megabytes)
    {
        var value = Math.Max(0, megabytes) * 1024 * 1024;
        var unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        var format = unit == 0 || value >= 100 ? "0" : value >= 10 ? "0.#" : "0.##";
        return value.ToString(format, CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    /// <summary>How long ago <paramref name="when"/> was, in words; "never" for no moment.</summary>
    public static string Ago(DateTime? when, DateTime now)
    {
        if (when is not { } moment)
        {
            return "never";
        }
        var elapsed = now - DateTime.SpecifyKind(moment, DateTimeKind.Utc);
        return elapsed.TotalSeconds switch
        {
            < 45 => "just now",
            < 90 => "1 minute ago",
            < 3600 => Plural((int)Math.Round(elapsed.TotalMinutes), "minute"),
            < 5400 => "1 hour ago",
            < 86400 => Plural((int)Math.Round(elapsed.TotalHours), "hour"),
            < 86400 * 1.5 => "1 day ago",
            _ => Plural((int)Math.Round(elapsed.TotalDays), "day"),
        };
    }

    /// <summary>The exact moment, for a tooltip: ISO date and time in UTC.</summary>
    public static string Exact(DateTime? when) =>
        when is { } moment ? DateTime.SpecifyKind(moment, DateTimeKind.Utc).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "never seen";

    public static string TypeName(string type) => type switch
    {
        "newt" => "Newt",
        "wireguard" => "WireGuard",
        "local" => "Local",
        _ => type,
    };

    private static string Plural(int count, string unit) => $"{count} {unit}{(count == 1 ? "" : "s")} ago";
}
