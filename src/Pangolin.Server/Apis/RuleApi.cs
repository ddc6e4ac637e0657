using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>Resource rules: ACCEPT, DROP or PASS by CIDR, IP, path, country or ASN, checked before sign-in.</summary>
public static class RuleApi
{
    public sealed record CreateRuleRequest(
        [property: Required, OneOf("ACCEPT", "DROP", "PASS")] string? Action,
        [property: Required, OneOf("CIDR", "IP", "PATH", "COUNTRY", "ASN")] string? Match,
        [property: Required, StringLength(2048, MinimumLength = 1)] string? Value,
        [property: Required, Range(int.MinValue, int.MaxValue)] int? Priority,
        bool? Enabled = null,
        [property: OneOf("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE")] string? Method = null);

    public sealed record UpdateRuleRequest
    {
        [NonNull, OneOf("ACCEPT", "DROP", "PASS")]
        public Optional<string> Action { get; init; }

        [NonNull, OneOf("CIDR", "IP", "PATH", "COUNTRY", "ASN")]
        public Optional<string> Match { get; init; }

        [NonNull, TextLength(1, 2048)]
        public Optional<string> Value { get; init; }

        [NonNull]
        public Optional<int> Priority { get; init; }

        [NonNull]
        public Optional<bool> Enabled { get; init; }

        [OneOf("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE")]
        public Optional<string?> Method { get; init; }
    }

    public sealed record RuleDto(int RuleId, int ResourceId, string Action, string Match, string Value, int Priority, bool Enabled, string? Method);

    public sealed record RuleList(IReadOnlyList<RuleDto> Rules, Pagination Pagination);

    private static RuleDto ToDto(ResourceRule r) => new(r.RuleId, r.ResourceId, r.Action, r.Match, r.Value, r.Priority, r.Enabled, r.Method);

    public static RouteGroupBuilder MapRuleApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/resource/{resourceId}").WithTags("Rules");
        g.MapPut("/rule", CreateAsync).RequireOrgAction(ActionIds.CreateResourceRule);
        g.MapGet("/rules", ListAsync).RequireOrgAction(ActionIds.ListResourceRules);
        g.MapPost("/rule/{ruleId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateResourceRule);
        g.MapDelete("/rule/{ruleId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteResourceRule);
        return api;
    }

    private static async Task<IResult> CreateAsync(int resourceId, CreateRuleRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == resourceId, ct);
        if (!resource.Http)
        {
            throw ApiException.BadRequest("Cannot create rule for non-http resource");
        }
        var rule = new ResourceRule
        {
            ResourceId = resourceId,
            Action = request.Action!,
            Match = request.Match!,
            Value = request.Value!.Trim(),
            Priority = request.Priority!.Value,
            Enabled = request.Enabled ?? true,
            Method = request.Method,
        };
        CheckValue(rule);
        db.ResourceRules.Add(rule);
        await db.SaveChangesAsync(ct);
        return Api.Created(ToDto(rule), "Resource rule created successfully");
    }

    private static async Task<IResult> ListAsync(int resourceId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var (items, pagination) = await query.ApplyAsync(
            db.ResourceRules.AsNoTracking().Where(r => r.ResourceId == resourceId).OrderBy(r => r.Priority).ThenBy(r => r.RuleId), ct);
        return Api.Ok(new RuleList(items.Select(ToDto).ToList(), pagination), "Resource rules retrieved");
    }

    private static async Task<IResult> UpdateAsync(int resourceId, int ruleId, UpdateRuleRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var rule = await db.ResourceRules.FirstOrDefaultAsync(r => r.RuleId == ruleId && r.ResourceId == resourceId, ct)
            ?? throw ApiException.NotFound("Resource rule not found");
        if (!(request.Action.IsSet || request.Match.IsSet || request.Value.IsSet || request.Priority.IsSet || request.Enabled.IsSet || request.Method.IsSet))
        {
            throw ApiException.BadRequest("Validation error: at least one field is required");
        }
        rule.Action = request.Action.Or(rule.Action);
        rule.Match = request.Match.Or(rule.Match);
        rule.Value = request.Value.Or(rule.Value).Trim();
        rule.Priority = request.Priority.Or(rule.Priority);
        rule.Enabled = request.Enabled.Or(rule.Enabled);
        rule.Method = request.Method.Or(rule.Method);
        CheckValue(rule);
        await db.SaveChangesAsync(ct);
        return Api.Ok(ToDto(rule), "Resource rule updated successfully");
    }

    private static async Task<IResult> DeleteAsync(int resourceId, int ruleId, PangolinDbContext db, CancellationToken ct)
    {
        var deleted = await db.ResourceRules.Where(r => r.RuleId == ruleId && r.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        return deleted == 0 ? throw ApiException.NotFound("Resource rule not found") : Api.Done("Resource rule deleted successfully");
    }

    /// <summary>The value must fit the match kind (upstream validates CIDR, IP and path globs the same way).</summary>
    private static void CheckValue(ResourceRule rule)
    {
        var ok = rule.Match switch
        {
            "CIDR" => Syntax.TryParseCidr(rule.Value, out _),
            "IP" => Syntax.TryParseIp(rule.Value, out _),
            "PATH" => rule.Value.Length <= 2048 && !rule.Value.Any(char.IsWhiteSpace),
            "COUNTRY" => rule.Value.Length == 2 && rule.Value.All(char.IsAsciiLetter) || rule.Value == "ALL",
            "ASN" => (rule.Value.StartsWith("AS", StringComparison.OrdinalIgnoreCase) ? rule.Value[2..] : rule.Value) is { Length: > 0 } n
                && n.All(char.IsAsciiDigit) && n.Length <= 10,
            _ => false,
        };
        if (!ok)
        {
            throw ApiException.Invalid("value", rule.Match switch
            {
                "CIDR" => "must be a network in CIDR notation, such as 10.0.0.0/8",
                "IP" => "must be an IPv4 or IPv6 address",
                "PATH" => "must be a URL path or glob without spaces, such as /api/*",
                "COUNTRY" => "must be a two-letter ISO 3166 country code, such as DE",
                _ => "must be an autonomous system number, such as AS13335",
            });
        }
        if (rule.Match == "COUNTRY")
        {
            rule.Value = rule.Value.ToUpperInvariant();
        }
    }
}
