using Pangolin.Server.Apis;

namespace Pangolin.Server.Dashboard.Shared;

/// <summary>One editable name/value row of a header list (a resource's request headers, a health check's headers).</summary>
public sealed class HeaderRow
{
    public string? Name { get; set; }

    public string? Value { get; set; }

    public static List<HeaderRow> From(IEnumerable<ResourceApi.HeaderDto>? headers) =>
        headers?.Select(h => new HeaderRow { Name = h.Name, Value = h.Value }).ToList() ?? [];

    /// <summary>The rows that say something, for the API; null when none does (the API stores null, not an empty list).</summary>
    public static List<ResourceApi.HeaderDto>? ToApi(IEnumerable<HeaderRow> rows)
    {
        var headers = rows.Where(h => !string.IsNullOrWhiteSpace(h.Name) || !string.IsNullOrEmpty(h.Value))
            .Select(h => new ResourceApi.HeaderDto(h.Name?.Trim() ?? "", h.Value ?? "")).ToList();
        return headers.Count > 0 ? headers : null;
    }
}
