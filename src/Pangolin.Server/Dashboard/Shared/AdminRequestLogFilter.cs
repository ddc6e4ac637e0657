using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace Pangolin.Server.Dashboard.Shared;

/// <summary>
/// The request log's filters, as the API names them (GET /org/{orgId}/logs/request): one query string serves both the
/// API call and the page's address, so a filtered view can be shared as a link.
/// </summary>
public sealed class AdminRequestLogFilter
{
    /// <summary>The edge's decision reasons (Pangolin.Edge.Badger.AccessReason) in words.</summary>
    public static readonly IReadOnlyList<(int Code, string Name)> Reasons =
    [
        (100, "Allowed by a rule"),
        (101, "No authentication needed"),
        (102, "Valid share link"),
        (103, "Valid header authentication"),
        (104, "Valid session"),
        (201, "Resource not found"),
        (202, "Resource blocked"),
        (203, "Dropped by a rule"),
        (204, "Not signed in"),
        (205, "Rate limited"),
        (299, "No authentication method left"),
    ];

    public static readonly IReadOnlyList<string> Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

    /// <summary>From this time on (UTC).</summary>
    public DateTime? From { get; set; }

    /// <summary>Up to this time (UTC).</summary>
    public DateTime? To { get; set; }

    public int? ResourceId { get; set; }

    /// <summary>true: allowed only; false: denied only; null: both.</summary>
    public bool? Allowed { get; set; }

    public int? Reason { get; set; }

    public string? Ip { get; set; }

    public string? Host { get; set; }

    /// <summary>Paths that start with this.</summary>
    public string? Path { get; set; }

    public string? Method { get; set; }

    /// <summary>The signed-in user: e-mail address or user id.</summary>
    public string? User { get; set; }

    public static string ReasonName(int code) => Reasons.FirstOrDefault(r => r.Code == code).Name ?? $"Reason {code}";

    public AdminRequestLogFilter Clone() => (AdminRequestLogFilter)MemberwiseClone();

    public bool IsEmpty => ToQuery().Length == 0;

    /// <summary>The filters as a query string without '?' (empty when nothing is filtered), in a fixed order.</summary>
    public string ToQuery()
    {
        var parts = new List<(string, string)>();
        if (From is { } from)
        {
            parts.Add(("timeStart", Utc(from)));
        }
        if (To is { } to)
        {
            parts.Add(("timeEnd", Utc(to)));
        }
        if (ResourceId is { } resourceId)
        {
            parts.Add(("resourceId", resourceId.ToString(CultureInfo.InvariantCulture)));
        }
        if (Allowed is { } allowed)
        {
            parts.Add(("action", allowed ? "true" : "false"));
        }
        if (Reason is { } reason)
        {
            parts.Add(("reason", reason.ToString(CultureInfo.InvariantCulture)));
        }
        Add(parts, "ip", Ip);
        Add(parts, "host", Host);
        Add(parts, "path", Path);
        Add(parts, "method", Method);
        Add(parts, "actor", User);
        var text = new StringBuilder();
        foreach (var (name, value) in parts)
        {
            text.Append(text.Length == 0 ? "" : "&").Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }
        return text.ToString();
    }

    /// <summary>Reads the filters from a query string (with or without '?'); unknown or malformed values are ignored.</summary>
    public static AdminRequestLogFilter Parse(string? query)
    {
        var q = QueryHelpers.ParseQuery(query);
        string? Text(string name) => q.TryGetValue(name, out var v) && v.Count > 0 && !string.IsNullOrWhiteSpace(v[0]) ? v[0] : null;
        static DateTime? Time(string? s) =>
            DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t) ? t : null;
        static int? Int(string? s) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : null;
        return new AdminRequestLogFilter
        {
            From = Time(Text("timeStart")),
            To = Time(Text("timeEnd")),
            ResourceId = Int(Text("resourceId")),
            Allowed = Text("action") switch { "true" => true, "false" => false, _ => null },
            Reason = Int(Text("reason")),
            Ip = Text("ip"),
            Host = Text("host"),
            Path = Text("path"),
            Method = Text("method"),
            User = Text("actor"),
        };
    }

    private static string Utc(DateTime t) =>
        (t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : DateTime.SpecifyKind(t, DateTimeKind.Utc)).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static void Add(List<(string, string)> parts, string name, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            parts.Add((name, value.Trim()));
        }
    }
}
