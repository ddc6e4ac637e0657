using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Pangolin.Server.Apis;

/// <summary>
/// List query parameters. Upstream has two styles: <c>limit</c>/<c>offset</c> (older lists) and
/// <c>page</c>/<c>pageSize</c> (newer ones); both work on every list here.
/// </summary>
public sealed class ListQuery
{
    [FromQuery(Name = "limit"), Range(1, 10_000)]
    public int? Limit { get; init; }

    [FromQuery(Name = "offset"), Range(0, int.MaxValue)]
    public int? Offset { get; init; }

    [FromQuery(Name = "page"), Range(1, int.MaxValue)]
    public int? Page { get; init; }

    [FromQuery(Name = "pageSize"), Range(1, 10_000)]
    public int? PageSize { get; init; }

    /// <summary>A substring to search for (names, e-mail addresses).</summary>
    [FromQuery(Name = "query"), MaxLength(255)]
    public string? Query { get; init; }

    [FromQuery(Name = "sort_by"), MaxLength(64)]
    public string? SortBy { get; init; }

    [FromQuery(Name = "order"), OneOf("asc", "desc")]
    public string? Order { get; init; }

    public bool Descending => Order == "desc";

    public (int Skip, int Take) Window(int defaultSize = 1000)
    {
        if (Page is not null || PageSize is not null)
        {
            var size = PageSize ?? 20;
            return (((Page ?? 1) - 1) * size, size);
        }
        return (Offset ?? 0, Limit ?? defaultSize);
    }

    public async Task<(List<T> Items, Pagination Pagination)> ApplyAsync<T>(IQueryable<T> query, CancellationToken ct, int defaultSize = 1000)
    {
        var (skip, take) = Window(defaultSize);
        var total = await query.CountAsync(ct);
        var items = await query.Skip(skip).Take(take).ToListAsync(ct);
        return (items, new Pagination(total, take, skip, (skip / take) + 1, take));
    }
}

/// <summary>Both pagination styles' fields: <c>{total, limit, offset}</c> and <c>{total, pageSize, page}</c>.</summary>
public sealed record Pagination(int Total, int Limit, int Offset, int Page, int PageSize);
