using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Sites;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Apis;

/// <summary>Resources (public, proxied services) and their access settings: grants, password, PIN, header auth, whitelist.</summary>
public static partial class ResourceApi
{
    public sealed record HeaderDto(string Name, string Value);

    public sealed record CreateResourceRequest(
        [property: Required(ErrorMessage = "http field is required")] bool? Http,
        [property: Required, StringLength(255, MinimumLength = 1)] string? Name,
        [property: OneOf("tcp", "udp")] string? Protocol = null,
        [property: StringLength(64, MinimumLength = 1)] string? DomainId = null,
        [property: Subdomain] string? Subdomain = null,
        [property: Range(1, 65535)] int? ProxyPort = null,
        bool? StickySession = null,
        [property: StringLength(2048, MinimumLength = 1)] string? PostAuthPath = null,
        [property: NiceId] string? NiceId = null,
        [property: MaxLength(100), NonNullItems] List<string>? RedirectDomains = null) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (Http == true)
            {
                if (DomainId is null)
                {
                    yield return new ValidationResult("is required for an HTTP resource", [nameof(DomainId)]);
                }
                if (ProxyPort is not null)
                {
                    yield return new ValidationResult("applies to raw TCP/UDP resources only (http: false)", [nameof(ProxyPort)]);
                }
            }
            else if (Http == false)
            {
                if (Protocol is null)
                {
                    yield return new ValidationResult("is required for a raw resource ('tcp' or 'udp')", [nameof(Protocol)]);
                }
                if (ProxyPort is null)
                {
                    yield return new ValidationResult("is required for a raw resource", [nameof(ProxyPort)]);
                }
                if (DomainId is not null || Subdomain is not null)
                {
                    yield return new ValidationResult("applies to HTTP resources only", [DomainId is not null ? nameof(DomainId) : nameof(Subdomain)]);
                }
            }
        }
    }

    public sealed record UpdateResourceRequest : IValidatableObject
    {
        [NonNull, TextLength(1, 255)]
        public Optional<string> Name { get; init; }

        [NonNull, NiceId]
        public Optional<string> NiceId { get; init; }

        [Subdomain]
        public Optional<string?> Subdomain { get; init; }

        public Optional<bool> Ssl { get; init; }

        public Optional<bool> Sso { get; init; }

        public Optional<bool> BlockAccess { get; init; }

        public Optional<bool> EmailWhitelistEnabled { get; init; }

        public Optional<bool> ApplyRules { get; init; }

        public Optional<bool> Enabled { get; init; }

        public Optional<bool> StickySession { get; init; }

        [NonNull, TextLength(1, 64)]
        public Optional<string> DomainId { get; init; }

        [DomainName]
        public Optional<string?> TlsServerName { get; init; }

        [DomainName]
        public Optional<string?> SetHostHeader { get; init; }

        [IntRange(1, int.MaxValue)]
        public Optional<int?> SkipToIdpId { get; init; }

        public Optional<List<HeaderDto>?> Headers { get; init; }

        public Optional<bool> MaintenanceModeEnabled { get; init; }

        [OneOf("forced", "automatic")]
        public Optional<string?> MaintenanceModeType { get; init; }

        [TextLength(0, 255)]
        public Optional<string?> MaintenanceTitle { get; init; }

        [TextLength(0, 2000)]
        public Optional<string?> MaintenanceMessage { get; init; }

        [TextLength(0, 100)]
        public Optional<string?> MaintenanceEstimatedTime { get; init; }

        [TextLength(1, 2048)]
        public Optional<string?> PostAuthPath { get; init; }

        [IntRange(1, 65535)]
        public Optional<int> ProxyPort { get; init; }

        public Optional<bool> ProxyProtocol { get; init; }

        [IntRange(1, 2)]
        public Optional<int?> ProxyProtocolVersion { get; init; }
        internal static readonly string[] HttpOnly =
        [
            nameof(Subdomain), nameof(Ssl), nameof(Sso), nameof(BlockAccess), nameof(EmailWhitelistEnabled), nameof(ApplyRules),
            nameof(DomainId), nameof(TlsServerName), nameof(SetHostHeader), nameof(SkipToIdpId), nameof(Headers),
            nameof(MaintenanceModeEnabled), nameof(MaintenanceModeType), nameof(MaintenanceTitle), nameof(MaintenanceMessage),
            nameof(MaintenanceEstimatedTime), nameof(PostAuthPath),
        ];

        internal static readonly string[] RawOnly = [nameof(ProxyPort), nameof(ProxyProtocol), nameof(ProxyProtocolVersion)];

        public IEnumerable<string> SetFields() => GetType().GetProperties()
            .Where(p => p.GetValue(this) is IOptionalValue { IsSet: true })
            .Select(p => p.Name);

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (!SetFields().Any())
            {
                yield return new ValidationResult("at least one field is required", ["body"]);
            }
            if (Headers is { IsSet: true, Value: { } headers })
            {
                for (var i = 0; i < headers.Count; i++)
                {
                    if (HeaderCheck(headers[i]) is { } problem)
                    {
                        yield return new ValidationResult(problem, [$"{nameof(Headers)}[{i}]"]);
                    }
                }
            }
        }
    }

    public sealed record ResourceDto(
        int ResourceId, string ResourceGuid, string OrgId, string NiceId, string Name, string? Subdomain, string? FullDomain,
        string? DomainId, bool Ssl, bool BlockAccess, bool Sso, bool Http, string Protocol, int? ProxyPort, bool EmailWhitelistEnabled,
        bool ApplyRules, bool Enabled, bool StickySession, string? TlsServerName, string? SetHostHeader, bool EnableProxy,
        int? SkipToIdpId, IReadOnlyList<HeaderDto>? Headers, string? PostAuthPath, bool ProxyProtocol, int? ProxyProtocolVersion,
        string Mode, bool MaintenanceModeEnabled, string? MaintenanceModeType, string? MaintenanceTitle, string? MaintenanceMessage,
        string? MaintenanceEstimatedTime, DateTime CreatedAt);

    public sealed record TargetSummary(int TargetId, string Ip, int Port, bool Enabled, string? HealthStatus, int SiteId, string? SiteName);

    public sealed record ResourceListItem(
        int ResourceId, string ResourceGuid, string OrgId, string NiceId, string Name, string? Subdomain, string? FullDomain, string? DomainId,
        bool Ssl, bool Sso, bool Http, string Protocol, int? ProxyPort, bool Enabled, bool BlockAccess, bool EmailWhitelistEnabled,
        bool Password, bool Pincode, bool HeaderAuth, bool Whitelist, string Mode, IReadOnlyList<TargetSummary> Targets);

    public sealed record ResourceList(IReadOnlyList<ResourceListItem> Resources, Pagination Pagination);

    public sealed record GrantRole(int RoleId, string Name, string? Description, bool IsAdmin);

    public sealed record GrantRoleList(IReadOnlyList<GrantRole> Roles);

    public sealed record GrantUser(string UserId, string Email, string? Username, string? Name, string Type, string? IdpName);

    public sealed record GrantUserList(IReadOnlyList<GrantUser> Users);

    public sealed record SetRolesRequest([property: Required, MaxLength(1000)] List<int>? RoleIds);

    public sealed record SetUsersRequest([property: Required, MaxLength(10000), NonNullItems] List<string>? UserIds);

    public sealed record RoleIdRequest([property: Required, Range(1, int.MaxValue)] int? RoleId);

    public sealed record UserIdRequest([property: Required, StringLength(64, MinimumLength = 1)] string? UserId);

    public sealed record SetPasswordRequest([property: Present, TextLength(4, 100)] Optional<string?> Password);

    public sealed record SetPincodeRequest([property: Present] Optional<string?> Pincode) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (Pincode is { IsSet: true, Value: { } pin } && !(pin.Length == 6 && pin.All(char.IsAsciiDigit)))
            {
                yield return new ValidationResult("must be exactly 6 digits, or null to remove it", [nameof(Pincode)]);
            }
        }
    }

    public sealed record SetHeaderAuthRequest
    {
        [Present, TextLength(4, 100)]
        public Optional<string?> User { get; init; }

        [Present, TextLength(4, 100)]
        public Optional<string?> Password { get; init; }

        [Present]
        public Optional<bool?> ExtendedCompatibility { get; init; }
    }

    public sealed record SetWhitelistRequest([property: Required, MaxLength(50)] List<string>? Emails) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            for (var i = 0; i < (Emails?.Count ?? 0); i++)
            {
                var e = Emails![i];
                if (e is null || (!Syntax.IsEmail(e) && !WildcardEmailRegex().IsMatch(e)))
                {
                    yield return new ValidationResult("must be an e-mail address or *@domain.tld", [$"{nameof(Emails)}[{i}]"]);
                }
            }
        }
    }

    public sealed record WhitelistEntry(string Email);

    public sealed record WhitelistDto(IReadOnlyList<WhitelistEntry> Whitelist);

    [GeneratedRegex(@"^\*@[\w.-]+\.[a-zA-Z]{2,}$")]
    private static partial Regex WildcardEmailRegex();

    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
    private static partial Regex HeaderNameRegex();

    internal static string? HeaderCheck(HeaderDto? header)
    {
        // Neither a list's items nor missing constructor parameters are checked for null by the serializer.
        if (header is null)
        {
            return "must be an object with a name and a value";
        }
        if (header.Name is null || header.Value is null)
        {
            return header.Name is null ? "name is required" : "value is required";
        }
        if (!HeaderNameRegex().IsMatch(header.Name) || header.Name.Length > 256)
        {
            return "header names must be RFC 7230 tokens";
        }
        if (header.Value.Length > 4096 || header.Value.Any(c => c != '\t' && (c < 0x20 || c > 0x7e)))
        {
            return "header values must be printable ASCII";
        }
        if (header.Value.Contains("{{", StringComparison.Ordinal))
        {
            return "header values must not contain '{{'";
        }
        return null;
    }

    internal static ResourceDto ToDto(Resource r) => new(
        r.ResourceId, r.ResourceGuid, r.OrgId, r.NiceId, r.Name, r.Subdomain, r.FullDomain, r.DomainId, r.Ssl, r.BlockAccess, r.Sso,
        r.Http, r.Protocol, r.ProxyPort, r.EmailWhitelistEnabled, r.ApplyRules, r.Enabled, r.StickySession, r.TlsServerName,
        r.SetHostHeader, r.EnableProxy, r.SkipToIdpId, r.Headers is null ? null : JsonSerializer.Deserialize<List<HeaderDto>>(r.Headers, JsonSerializerOptions.Web),
        r.PostAuthPath, r.ProxyProtocol, r.ProxyProtocolVersion, r.Mode, r.MaintenanceModeEnabled, r.MaintenanceModeType,
        r.MaintenanceTitle, r.MaintenanceMessage, r.MaintenanceEstimatedTime, r.CreatedAt);

    public static RouteGroupBuilder MapResourceApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Resources");
        g.MapPut("/org/{orgId}/resource", CreateAsync).RequireOrgAction(ActionIds.CreateResource);
        g.MapGet("/org/{orgId}/resources", ListAsync).RequireOrgAction(ActionIds.ListResources);
        g.MapGet("/org/{orgId}/resource/{niceId}", GetByNiceIdAsync).RequireOrgAction(ActionIds.GetResource);
        g.MapGet("/site/{siteId}/resources", ListForSiteAsync).RequireOrgAction(ActionIds.ListResources);
        g.MapGet("/resource/{resourceId}", GetAsync).RequireOrgAction(ActionIds.GetResource);
        g.MapPost("/resource/{resourceId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateResource);
        g.MapDelete("/resource/{resourceId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteResource);

        var access = api.MapGroup("/resource/{resourceId}").WithTags("Resource access");
        access.MapGet("/roles", ListRolesAsync).RequireOrgAction(ActionIds.ListResourceRoles);
        access.MapPost("/roles", SetRolesAsync).RequireOrgAction(ActionIds.SetResourceRoles);
        access.MapPost("/roles/add", AddRoleAsync).RequireOrgAction(ActionIds.SetResourceRoles);
        access.MapPost("/roles/remove", RemoveRoleAsync).RequireOrgAction(ActionIds.SetResourceRoles);
        access.MapGet("/users", ListUsersAsync).RequireOrgAction(ActionIds.ListResourceUsers);
        access.MapPost("/users", SetUsersAsync).RequireOrgAction(ActionIds.SetResourceUsers);
        access.MapPost("/users/add", AddUserAsync).RequireOrgAction(ActionIds.SetResourceUsers);
        access.MapPost("/users/remove", RemoveUserAsync).RequireOrgAction(ActionIds.SetResourceUsers);
        access.MapPost("/password", SetPasswordAsync).RequireOrgAction(ActionIds.SetResourcePassword);
        access.MapPost("/pincode", SetPincodeAsync).RequireOrgAction(ActionIds.SetResourcePincode);
        access.MapPost("/header-auth", SetHeaderAuthAsync).RequireOrgAction(ActionIds.SetResourceHeaderAuth);
        access.MapPost("/whitelist", SetWhitelistAsync).RequireOrgAction(ActionIds.SetResourceWhitelist);
        access.MapGet("/whitelist", GetWhitelistAsync).RequireOrgAction(ActionIds.GetResourceWhitelist);
        return api;
    }

    private static async Task<IResult> CreateAsync(string orgId, CreateResourceRequest request, Caller caller, PangolinDbContext db,
        IOptions<FlagsOptions> flags, IOptions<ServerOptions> server, IOptions<AppOptions> app, TimeProvider time, CancellationToken ct)
    {
        var resource = new Resource
        {
            ResourceGuid = Guid.NewGuid().ToString(),
            OrgId = orgId,
            NiceId = "",
            Name = request.Name!,
            Http = request.Http!.Value,
            Protocol = request.Protocol ?? "tcp",
            StickySession = request.StickySession ?? false,
            PostAuthPath = request.PostAuthPath,
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        if (resource.Http)
        {
            resource.Mode = "http";
            resource.Ssl = true;
            await SetDomainAsync(db, resource, request.DomainId!, request.Subdomain, app.Value, ct);
        }
        else
        {
            if (!flags.Value.AllowRawResources)
            {
                throw ApiException.BadRequest("Raw TCP/UDP resources are disabled on this server (Flags:AllowRawResources)");
            }
            resource.Mode = resource.Protocol;
            resource.Sso = false;
            await SetProxyPortAsync(db, resource, request.ProxyPort!.Value, server.Value, ct);
        }
        if (request.NiceId is not null && await db.Resources.AnyAsync(r => r.OrgId == orgId && r.NiceId == request.NiceId, ct))
        {
            throw ApiException.Conflict($"A resource with niceId '{request.NiceId}' already exists in this organization");
        }
        resource.NiceId = request.NiceId ?? await NiceIds.UniqueAsync(request.Name!, n => db.Resources.AnyAsync(r => r.OrgId == orgId && r.NiceId == n, ct));

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        db.Resources.Add(resource);
        await db.SaveChangesAsync(ct);
        await Grants.GrantResourceToCreatorAsync(db, caller, resource, ct);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(ToDto(resource), "Resource created successfully");
    }

    private static async Task SetDomainAsync(PangolinDbContext db, Resource resource, string domainId, string? subdomain, AppOptions app, CancellationToken ct)
    {
        var domain = await db.OrgDomains.Where(od => od.OrgId == resource.OrgId && od.DomainId == domainId)
            .Join(db.Domains, od => od.DomainId, d => d.DomainId, (od, d) => d)
            .FirstOrDefaultAsync(ct)
            ?? throw ApiException.NotFound($"Domain '{domainId}' not found in this organization; list domains with GET /org/{resource.OrgId}/domains");
        subdomain = string.IsNullOrEmpty(subdomain) ? null : subdomain.ToLowerInvariant();
        var fullDomain = subdomain is null ? domain.BaseDomain : $"{subdomain}.{domain.BaseDomain}";
        if (fullDomain.Length > 253)
        {
            throw ApiException.BadRequest("Validation error: the full domain is longer than 253 characters");
        }
        if (string.Equals(fullDomain, new Uri(app.DashboardUrl).Host, StringComparison.OrdinalIgnoreCase))
        {
            throw ApiException.Conflict($"{fullDomain} is the dashboard's own domain");
        }
        if (await db.Resources.AnyAsync(r => r.FullDomain == fullDomain && r.ResourceId != resource.ResourceId, ct))
        {
            throw ApiException.Conflict($"Resource with domain {fullDomain} already exists");
        }
        resource.DomainId = domain.DomainId;
        resource.Subdomain = subdomain;
        resource.FullDomain = fullDomain;
    }

    private static async Task SetProxyPortAsync(PangolinDbContext db, Resource resource, int port, ServerOptions server, CancellationToken ct)
    {
        if (port == server.ExternalPort || port == server.IntegrationPort || port == server.InternalPort)
        {
            throw ApiException.Conflict($"Port {port} is used by the server itself");
        }
        if (await db.Resources.AnyAsync(r => r.ProxyPort == port && r.Protocol == resource.Protocol && r.ResourceId != resource.ResourceId, ct))
        {
            throw ApiException.Conflict($"Another {resource.Protocol.ToUpperInvariant()} resource already uses port {port}");
        }
        resource.ProxyPort = port;
    }

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var resources = Grants.VisibleResources(db, caller, db.Resources.AsNoTracking().Where(r => r.OrgId == orgId));
        return Api.Ok(await ListCoreAsync(db, resources, query, ct), "Resources retrieved");
    }

    private static async Task<IResult> ListForSiteAsync(int siteId, [AsParameters] ListQuery query, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var resources = Grants.VisibleResources(db, caller, db.Resources.AsNoTracking()
            .Where(r => db.Targets.Any(t => t.ResourceId == r.ResourceId && t.SiteId == siteId)));
        return Api.Ok(await ListCoreAsync(db, resources, query, ct), "Resources retrieved");
    }

    private static async Task<ResourceList> ListCoreAsync(PangolinDbContext db, IQueryable<Resource> resources, ListQuery query, CancellationToken ct)
    {
        if (query.Query is { Length: > 0 } text)
        {
            resources = resources.Where(r => r.Name.Contains(text) || r.NiceId.Contains(text) || (r.FullDomain != null && r.FullDomain.Contains(text)));
        }
        resources = query.Descending ? resources.OrderByDescending(r => r.Name).ThenByDescending(r => r.ResourceId) : resources.OrderBy(r => r.Name).ThenBy(r => r.ResourceId);
        var (rows, pagination) = await query.ApplyAsync(resources.Select(r => new
        {
            r.ResourceId, r.ResourceGuid, r.OrgId, r.NiceId, r.Name, r.Subdomain, r.FullDomain, r.DomainId, r.Ssl, r.Sso, r.Http,
            r.Protocol, r.ProxyPort, r.Enabled, r.BlockAccess, r.EmailWhitelistEnabled, r.Mode,
            Password = db.ResourcePasswords.Any(p => p.ResourceId == r.ResourceId),
            Pincode = db.ResourcePincodes.Any(p => p.ResourceId == r.ResourceId),
            HeaderAuth = db.ResourceHeaderAuths.Any(p => p.ResourceId == r.ResourceId),
        }), ct);
        // Targets in one query for the whole page rather than one per resource.
        var ids = rows.Select(r => r.ResourceId).ToList();
        var targets = (await db.Targets.AsNoTracking().Where(t => ids.Contains(t.ResourceId))
            .GroupJoin(db.TargetHealthChecks, t => t.TargetId, h => h.TargetId, (t, h) => new { t, h })
            .SelectMany(x => x.h.DefaultIfEmpty(), (x, h) => new
            {
                x.t.ResourceId, x.t.TargetId, x.t.Ip, x.t.Port, x.t.Enabled, Health = h == null ? null : h.HcHealth, x.t.SiteId,
                SiteName = db.Sites.Where(s => s.SiteId == x.t.SiteId).Select(s => s.Name).FirstOrDefault(),
            })
            .ToListAsync(ct))
            .ToLookup(t => t.ResourceId, t => new TargetSummary(t.TargetId, t.Ip, t.Port, t.Enabled, t.Health, t.SiteId, t.SiteName));
        var items = rows.Select(r => new ResourceListItem(
            r.ResourceId, r.ResourceGuid, r.OrgId, r.NiceId, r.Name, r.Subdomain, r.FullDomain, r.DomainId, r.Ssl, r.Sso, r.Http, r.Protocol,
            r.ProxyPort, r.Enabled, r.BlockAccess, r.EmailWhitelistEnabled, r.Password, r.Pincode, r.HeaderAuth, r.EmailWhitelistEnabled,
            r.Mode, targets[r.ResourceId].ToList())).ToList();
        return new ResourceList(items, pagination);
    }

    private static async Task<IResult> GetAsync(int resourceId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(ToDto(await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == resourceId, ct)), "Resource retrieved");

    private static async Task<IResult> GetByNiceIdAsync(string orgId, string niceId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var resource = await Grants.VisibleResources(db, caller, db.Resources.AsNoTracking().Where(r => r.OrgId == orgId && r.NiceId == niceId))
            .FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Resource not found");
        return Api.Ok(ToDto(resource), "Resource retrieved");
    }

    private static async Task<IResult> UpdateAsync(int resourceId, UpdateResourceRequest request, PangolinDbContext db,
        IOptions<FlagsOptions> flags, IOptions<ServerOptions> server, IOptions<AppOptions> app, SiteNotifier notifier, CancellationToken ct)
    {
        var resource = await db.Resources.FirstAsync(r => r.ResourceId == resourceId, ct);
        var wasEnabled = resource.Enabled;
        var set = request.SetFields().ToList();
        var wrongKind = set.Intersect(resource.Http ? UpdateResourceRequest.RawOnly : UpdateResourceRequest.HttpOnly).FirstOrDefault();
        if (wrongKind is not null)
        {
            throw ApiException.BadRequest($"Validation error: \"{JsonNamingPolicy.CamelCase.ConvertName(wrongKind)}\" does not apply to {(resource.Http ? "an HTTP" : "a raw TCP/UDP")} resource");
        }
        if (request.NiceId is { IsSet: true } nice && nice.Value != resource.NiceId
            && await db.Resources.AnyAsync(r => r.OrgId == resource.OrgId && r.NiceId == nice.Value, ct))
        {
            throw ApiException.Conflict($"A resource with niceId '{nice.Value}' already exists in this organization");
        }
        if (request.DomainId.IsSet || request.Subdomain.IsSet)
        {
            var domainId = request.DomainId.Or(resource.DomainId!);
            var subdomain = request.Subdomain.Or(resource.Subdomain);
            await SetDomainAsync(db, resource, domainId, subdomain, app.Value, ct);
        }
        if (request.ProxyPort is { IsSet: true } port)
        {
            if (!flags.Value.AllowRawResources)
            {
                throw ApiException.BadRequest("Raw TCP/UDP resources are disabled on this server (Flags:AllowRawResources)");
            }
            await SetProxyPortAsync(db, resource, port.Value, server.Value, ct);
        }
        resource.Name = request.Name.Or(resource.Name);
        resource.NiceId = request.NiceId.Or(resource.NiceId);
        resource.Ssl = request.Ssl.Or(resource.Ssl);
        resource.Sso = request.Sso.Or(resource.Sso);
        resource.BlockAccess = request.BlockAccess.Or(resource.BlockAccess);
        resource.EmailWhitelistEnabled = request.EmailWhitelistEnabled.Or(resource.EmailWhitelistEnabled);
        resource.ApplyRules = request.ApplyRules.Or(resource.ApplyRules);
        resource.Enabled = request.Enabled.Or(resource.Enabled);
        resource.StickySession = request.StickySession.Or(resource.StickySession);
        resource.TlsServerName = request.TlsServerName.Or(resource.TlsServerName);
        resource.SetHostHeader = request.SetHostHeader.Or(resource.SetHostHeader);
        resource.SkipToIdpId = request.SkipToIdpId.Or(resource.SkipToIdpId);
        if (request.Headers.IsSet)
        {
            resource.Headers = request.Headers.Value is { } headers ? JsonSerializer.Serialize(headers, JsonSerializerOptions.Web) : null;
        }
        resource.MaintenanceModeEnabled = request.MaintenanceModeEnabled.Or(resource.MaintenanceModeEnabled);
        resource.MaintenanceModeType = request.MaintenanceModeType.Or(resource.MaintenanceModeType);
        resource.MaintenanceTitle = request.MaintenanceTitle.Or(resource.MaintenanceTitle);
        resource.MaintenanceMessage = request.MaintenanceMessage.Or(resource.MaintenanceMessage);
        resource.MaintenanceEstimatedTime = request.MaintenanceEstimatedTime.Or(resource.MaintenanceEstimatedTime);
        resource.PostAuthPath = request.PostAuthPath.Or(resource.PostAuthPath);
        resource.ProxyProtocol = request.ProxyProtocol.Or(resource.ProxyProtocol);
        resource.ProxyProtocolVersion = request.ProxyProtocolVersion.Or(resource.ProxyProtocolVersion);
        await db.SaveChangesAsync(ct);
        if (resource.Enabled != wasEnabled)
        {
            // A disabled resource's targets are not served: their newts drop or restore the listeners.
            await notifier.SyncAsync(await notifier.SitesOfResourceAsync(resourceId, ct), ct);
        }
        return Api.Ok(ToDto(resource), "Resource updated successfully");
    }

    private static async Task<IResult> DeleteAsync(int resourceId, PangolinDbContext db, SiteNotifier notifier, CancellationToken ct)
    {
        var sites = await notifier.SitesOfResourceAsync(resourceId, ct);
        await db.Resources.Where(r => r.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        // Its targets went with it (cascade): their newts drop the listeners.
        await notifier.SyncAsync(sites, ct);
        return Api.Done("Resource deleted successfully");
    }

    private static async Task<IResult> ListRolesAsync(int resourceId, PangolinDbContext db, CancellationToken ct)
    {
        var roles = await db.RoleResources.Where(g => g.ResourceId == resourceId).OrderBy(g => g.RoleId)
            .Join(db.Roles, g => g.RoleId, r => r.RoleId, (g, r) => new GrantRole(r.RoleId, r.Name, r.Description, r.IsAdmin))
            .ToListAsync(ct);
        return Api.Ok(new GrantRoleList(roles), "Resource roles retrieved");
    }

    private static async Task<IResult> SetRolesAsync(int resourceId, SetRolesRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var roleIds = await Grants.CheckRolesAsync(db, caller.OrgId!, request.RoleIds!, ct);
        var adminRoles = await db.Roles.Where(r => r.OrgId == caller.OrgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.RoleResources.Where(g => g.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        // The admin role keeps its grant (upstream: it cannot be removed).
        foreach (var roleId in roleIds.Union(adminRoles))
        {
            db.RoleResources.Add(new RoleResource { RoleId = roleId, ResourceId = resourceId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, "Resource roles set successfully");
    }

    private static async Task<IResult> AddRoleAsync(int resourceId, RoleIdRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var roleId = (await Grants.CheckRolesAsync(db, caller.OrgId!, [request.RoleId!.Value], ct))[0];
        if (!await db.RoleResources.AnyAsync(g => g.ResourceId == resourceId && g.RoleId == roleId, ct))
        {
            db.RoleResources.Add(new RoleResource { RoleId = roleId, ResourceId = resourceId });
            await db.SaveChangesAsync(ct);
        }
        return Api.Created(Empty.Value, "Role added to resource");
    }

    private static async Task<IResult> RemoveRoleAsync(int resourceId, RoleIdRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var roleId = (await Grants.CheckRolesAsync(db, caller.OrgId!, [request.RoleId!.Value], ct))[0];
        if (await db.Roles.AnyAsync(r => r.RoleId == roleId && r.IsAdmin, ct))
        {
            throw ApiException.BadRequest("The admin role cannot be removed from a resource");
        }
        await db.RoleResources.Where(g => g.ResourceId == resourceId && g.RoleId == roleId).ExecuteDeleteAsync(ct);
        return Api.Ok(Empty.Value, "Role removed from resource");
    }

    private static async Task<IResult> ListUsersAsync(int resourceId, PangolinDbContext db, CancellationToken ct)
    {
        var users = await db.Users.Where(u => db.UserResources.Any(g => g.ResourceId == resourceId && g.UserId == u.UserId)).OrderBy(u => u.Email)
            .Select(u => new GrantUser(u.UserId, u.Email, u.Username, u.Name, u.Type, null))
            .ToListAsync(ct);
        return Api.Ok(new GrantUserList(users), "Resource users retrieved");
    }

    private static async Task<IResult> SetUsersAsync(int resourceId, SetUsersRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var userIds = await Grants.CheckMembersAsync(db, caller.OrgId!, request.UserIds!, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.UserResources.Where(g => g.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        foreach (var userId in userIds)
        {
            db.UserResources.Add(new UserResource { UserId = userId, ResourceId = resourceId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, "Resource users set successfully");
    }

    private static async Task<IResult> AddUserAsync(int resourceId, UserIdRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var userId = (await Grants.CheckMembersAsync(db, caller.OrgId!, [request.UserId!], ct))[0];
        if (!await db.UserResources.AnyAsync(g => g.ResourceId == resourceId && g.UserId == userId, ct))
        {
            db.UserResources.Add(new UserResource { UserId = userId, ResourceId = resourceId });
            await db.SaveChangesAsync(ct);
        }
        return Api.Created(Empty.Value, "User added to resource");
    }

    private static async Task<IResult> RemoveUserAsync(int resourceId, UserIdRequest request, PangolinDbContext db, CancellationToken ct)
    {
        await db.UserResources.Where(g => g.ResourceId == resourceId && g.UserId == request.UserId).ExecuteDeleteAsync(ct);
        return Api.Ok(Empty.Value, "User removed from resource");
    }

    private static async Task<IResult> SetPasswordAsync(int resourceId, SetPasswordRequest request, PangolinDbContext db, PasswordHasher hasher, CancellationToken ct)
    {
        var hash = request.Password.Value is { } password ? await hasher.HashAsync(password, ct) : null;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Replacing the row ends the sessions made with the old password (cascade).
        await db.ResourcePasswords.Where(p => p.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        if (hash is not null)
        {
            db.ResourcePasswords.Add(new ResourcePassword { ResourceId = resourceId, PasswordHash = hash });
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, hash is null ? "Resource password removed successfully" : "Resource password set successfully");
    }

    private static async Task<IResult> SetPincodeAsync(int resourceId, SetPincodeRequest request, PangolinDbContext db, PasswordHasher hasher, CancellationToken ct)
    {
        var hash = request.Pincode.Value is { } pin ? await hasher.HashAsync(pin, ct) : null;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.ResourcePincodes.Where(p => p.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        if (hash is not null)
        {
            db.ResourcePincodes.Add(new ResourcePincode { ResourceId = resourceId, PincodeHash = hash, DigitLength = 6 });
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, hash is null ? "Resource PIN code removed successfully" : "Resource PIN code set successfully");
    }

    private static async Task<IResult> SetHeaderAuthAsync(int resourceId, SetHeaderAuthRequest request, PangolinDbContext db, PasswordHasher hasher, CancellationToken ct)
    {
        var set = request.User.Value is not null && request.Password.Value is not null && request.ExtendedCompatibility.Value is not null;
        if (set && request.User.Value!.Contains(':', StringComparison.Ordinal))
        {
            throw ApiException.BadRequest("Validation error: user must not contain ':' (HTTP Basic separates user and password with it)");
        }
        var hash = set
            ? await hasher.HashAsync(Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{request.User.Value}:{request.Password.Value}")), ct)
            : null;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.ResourceHeaderAuths.Where(p => p.ResourceId == resourceId).ExecuteDeleteAsync(ct);
        if (hash is not null)
        {
            db.ResourceHeaderAuths.Add(new ResourceHeaderAuth
            {
                ResourceId = resourceId,
                HeaderAuthHash = hash,
                ExtendedCompatibility = request.ExtendedCompatibility.Value!.Value,
            });
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, set ? "Header Authentication set successfully" : "Header Authentication removed successfully");
    }

    private static async Task<IResult> SetWhitelistAsync(int resourceId, SetWhitelistRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == resourceId, ct);
        if (!resource.EmailWhitelistEnabled)
        {
            throw ApiException.BadRequest("Email whitelist is not enabled for this resource; set emailWhitelistEnabled first");
        }
        var emails = request.Emails!.Select(e => e.Trim().ToLowerInvariant()).Distinct(StringComparer.Ordinal).ToList();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.ResourceWhitelists.Where(w => w.ResourceId == resourceId && !emails.Contains(w.Email)).ExecuteDeleteAsync(ct);
        var existing = await db.ResourceWhitelists.Where(w => w.ResourceId == resourceId).Select(w => w.Email).ToListAsync(ct);
        foreach (var email in emails.Except(existing, StringComparer.Ordinal))
        {
            db.ResourceWhitelists.Add(new ResourceWhitelist { ResourceId = resourceId, Email = email });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Ok(Empty.Value, "Whitelist set for resource successfully");
    }

    private static async Task<IResult> GetWhitelistAsync(int resourceId, PangolinDbContext db, CancellationToken ct)
    {
        var list = await db.ResourceWhitelists.Where(w => w.ResourceId == resourceId).OrderBy(w => w.Email)
            .Select(w => new WhitelistEntry(w.Email)).ToListAsync(ct);
        return Api.Ok(new WhitelistDto(list), "Resource whitelist retrieved");
    }
}
