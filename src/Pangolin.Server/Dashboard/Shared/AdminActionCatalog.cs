using System.Globalization;
using System.Text;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Dashboard.Shared;

/// <summary>
/// The API's action ids in groups with readable names, for the checkbox editors of roles and API keys. An action the
/// groups do not name (a new one) still shows, under "Other", so that nothing granted is ever hidden.
/// </summary>
public static class AdminActionCatalog
{
    public sealed record Group(string Name, IReadOnlyList<string> Actions);

    private static readonly (string Name, string[] Prefixes)[] Sections =
    [
        ("Organization", ["createOrgUser", "listOrgs", "listUserOrgs", "createOrg", "getOrg", "updateOrg", "deleteOrg", "checkOrgId"]),
        ("Sites", ["createSite", "deleteSite", "getSite", "listSites", "updateSite", "restartSite", "resetSiteBandwidth", "reGenerateSecret", "listSiteRoles", "createNewt"]),
        ("Resources", ["createResource", "deleteResource", "getResource", "listResources", "updateResource"]),
        ("Targets and health checks", ["createTarget", "deleteTarget", "getTarget", "listTargets", "updateTarget", "createHealthCheck", "updateHealthCheck", "deleteHealthCheck", "listHealthChecks"]),
        ("Resource access", ["listResourceRoles", "setResourceUsers", "setResourceRoles", "listResourceUsers", "setResourcePassword", "setResourcePincode", "setResourceHeaderAuth", "setResourceWhitelist", "getResourceWhitelist"]),
        ("Share links", ["generateAccessToken", "deleteAcessToken", "listAccessTokens"]),
        ("Rules", ["createResourceRule", "deleteResourceRule", "listResourceRules", "updateResourceRule"]),
        ("Roles", ["createRole", "deleteRole", "getRole", "listRoles", "updateRole", "listRoleResources", "addUserRole", "removeUserRole", "setUserOrgRoles"]),
        ("Users and invitations", ["inviteUser", "listInvitations", "removeInvitation", "removeUser", "listUsers", "getOrgUser", "updateUser", "getUser", "updateOrgUser"]),
        ("Private resources", ["createSiteResource", "deleteSiteResource", "getSiteResource", "listSiteResources", "updateSiteResource"]),
        ("Clients", ["createClient", "deleteClient", "archiveClient", "unarchiveClient", "blockClient", "unblockClient", "updateClient", "listClients", "getClient", "createOlm"]),
        ("Domains and certificates", ["listOrgDomains", "getDomain", "updateOrgDomain", "getDNSRecords", "createOrgDomain", "deleteOrgDomain", "restartOrgDomain", "getCertificate", "restartCertificate"]),
        ("Identity providers", ["createIdp", "updateIdp", "deleteIdp", "listIdps", "getIdp", "createIdpOrg", "deleteIdpOrg", "listIdpOrgs", "updateIdpOrg"]),
        ("API keys", ["createApiKey", "deleteApiKey", "setApiKeyActions", "setApiKeyOrgs", "listApiKeyActions", "listApiKeys", "getApiKey"]),
        ("Logs and blueprints", ["viewLogs", "exportLogs", "listBlueprints", "getBlueprint", "applyBlueprint"]),
        ("Labels", ["listOrgLabels", "createOrgLabel", "updateOrgLabel", "deleteOrgLabel", "attachLabelToItem", "detachLabelFromItem"]),
    ];

    private static readonly Dictionary<string, string> Names = new(StringComparer.Ordinal)
    {
        ["getDNSRecords"] = "Get DNS records",
        ["deleteAcessToken"] = "Delete share links",
        ["generateAccessToken"] = "Create share links",
        ["listAccessTokens"] = "List share links",
        ["reGenerateSecret"] = "Regenerate site secrets",
        ["createOrgUser"] = "Add users to the organization",
        ["checkOrgId"] = "Check organization ids",
        ["createNewt"] = "Create newt credentials",
        ["createOlm"] = "Create olm credentials",
        ["setApiKeyOrgs"] = "Set API key organizations",
        ["viewLogs"] = "View logs",
        ["exportLogs"] = "Export logs",
    };

    /// <summary>The groups of <paramref name="actions"/> (default: every action the server knows), in a stable order.</summary>
    public static IReadOnlyList<Group> Groups(IEnumerable<string>? actions = null)
    {
        var all = (actions ?? ActionIds.All).Distinct(StringComparer.Ordinal).ToList();
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var groups = new List<Group>();
        foreach (var (name, members) in Sections)
        {
            var inGroup = members.Where(a => all.Contains(a, StringComparer.Ordinal)).ToList();
            placed.UnionWith(inGroup);
            if (inGroup.Count > 0)
            {
                groups.Add(new Group(name, inGroup));
            }
        }
        var rest = all.Where(a => !placed.Contains(a)).Order(StringComparer.Ordinal).ToList();
        if (rest.Count > 0)
        {
            groups.Add(new Group("Other", rest));
        }
        return groups;
    }

    /// <summary>"listResourceRoles" → "List resource roles".</summary>
    public static string Name(string actionId)
    {
        ArgumentNullException.ThrowIfNull(actionId);
        if (Names.TryGetValue(actionId, out var name))
        {
            return name;
        }
        var words = new List<string>();
        var word = new StringBuilder();
        foreach (var c in actionId)
        {
            if (char.IsUpper(c) && word.Length > 0)
            {
                words.Add(word.ToString());
                word.Clear();
            }
            word.Append(char.ToLower(c, CultureInfo.InvariantCulture));
        }
        words.Add(word.ToString());
        var text = string.Join(' ', words.Select(w => w switch
        {
            "org" => "organization",
            "orgs" => "organizations",
            "idp" => "identity provider",
            "idps" => "identity providers",
            "api" => "API",
            _ => w,
        }));
        return char.ToUpper(text[0], CultureInfo.InvariantCulture) + text[1..];
    }
}
