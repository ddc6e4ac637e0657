namespace Pangolin.Server.Auth;

/// <summary>
/// The action ids of upstream's ActionsEnum (server/auth/actions.ts), as literal strings: roles, users and
/// API keys are granted these. The upstream typo "deleteAcessToken" is kept on purpose.
/// </summary>
public static class ActionIds
{
    // Orgs
    public const string CreateOrgUser = "createOrgUser";
    public const string ListOrgs = "listOrgs";
    public const string ListUserOrgs = "listUserOrgs";
    public const string CreateOrg = "createOrg";
    public const string GetOrg = "getOrg";
    public const string UpdateOrg = "updateOrg";
    public const string DeleteOrg = "deleteOrg";
    public const string CheckOrgId = "checkOrgId";

    // Sites
    public const string CreateSite = "createSite";
    public const string DeleteSite = "deleteSite";
    public const string GetSite = "getSite";
    public const string ListSites = "listSites";
    public const string UpdateSite = "updateSite";
    public const string RestartSite = "restartSite";
    public const string ResetSiteBandwidth = "resetSiteBandwidth";
    public const string ReGenerateSecret = "reGenerateSecret";
    public const string ListSiteRoles = "listSiteRoles";

    // Resources
    public const string CreateResource = "createResource";
    public const string DeleteResource = "deleteResource";
    public const string GetResource = "getResource";
    public const string ListResources = "listResources";
    public const string UpdateResource = "updateResource";

    // Targets
    public const string CreateTarget = "createTarget";
    public const string DeleteTarget = "deleteTarget";
    public const string GetTarget = "getTarget";
    public const string ListTargets = "listTargets";
    public const string UpdateTarget = "updateTarget";

    // Roles
    public const string CreateRole = "createRole";
    public const string DeleteRole = "deleteRole";
    public const string GetRole = "getRole";
    public const string ListRoles = "listRoles";
    public const string UpdateRole = "updateRole";
    public const string ListRoleResources = "listRoleResources";
    public const string AddUserRole = "addUserRole";
    public const string RemoveUserRole = "removeUserRole";
    public const string SetUserOrgRoles = "setUserOrgRoles";

    // Users and invitations
    public const string InviteUser = "inviteUser";
    public const string ListInvitations = "listInvitations";
    public const string RemoveInvitation = "removeInvitation";
    public const string RemoveUser = "removeUser";
    public const string ListUsers = "listUsers";
    public const string GetOrgUser = "getOrgUser";
    public const string UpdateUser = "updateUser";
    public const string GetUser = "getUser";
    public const string UpdateOrgUser = "updateOrgUser";

    // Resource access
    public const string ListResourceRoles = "listResourceRoles";
    public const string SetResourceUsers = "setResourceUsers";
    public const string SetResourceRoles = "setResourceRoles";
    public const string ListResourceUsers = "listResourceUsers";
    public const string SetResourcePassword = "setResourcePassword";
    public const string SetResourcePincode = "setResourcePincode";
    public const string SetResourceHeaderAuth = "setResourceHeaderAuth";
    public const string SetResourceWhitelist = "setResourceWhitelist";
    public const string GetResourceWhitelist = "getResourceWhitelist";

    // Access tokens (share links)
    public const string GenerateAccessToken = "generateAccessToken";
    public const string DeleteAccessToken = "deleteAcessToken";
    public const string ListAccessTokens = "listAccessTokens";

    // Rules
    public const string CreateResourceRule = "createResourceRule";
    public const string DeleteResourceRule = "deleteResourceRule";
    public const string ListResourceRules = "listResourceRules";
    public const string UpdateResourceRule = "updateResourceRule";

    // Private (site) resources
    public const string CreateSiteResource = "createSiteResource";
    public const string DeleteSiteResource = "deleteSiteResource";
    public const string GetSiteResource = "getSiteResource";
    public const string ListSiteResources = "listSiteResources";
    public const string UpdateSiteResource = "updateSiteResource";

    // Clients
    public const string CreateClient = "createClient";
    public const string DeleteClient = "deleteClient";
    public const string ArchiveClient = "archiveClient";
    public const string UnarchiveClient = "unarchiveClient";
    public const string BlockClient = "blockClient";
    public const string UnblockClient = "unblockClient";
    public const string UpdateClient = "updateClient";
    public const string ListClients = "listClients";
    public const string GetClient = "getClient";

    // Domains
    public const string ListOrgDomains = "listOrgDomains";
    public const string GetDomain = "getDomain";
    public const string UpdateOrgDomain = "updateOrgDomain";
    public const string GetDnsRecords = "getDNSRecords";
    public const string CreateOrgDomain = "createOrgDomain";
    public const string DeleteOrgDomain = "deleteOrgDomain";
    public const string RestartOrgDomain = "restartOrgDomain";

    // Newt / Olm
    public const string CreateNewt = "createNewt";
    public const string CreateOlm = "createOlm";

    // Identity providers
    public const string CreateIdp = "createIdp";
    public const string UpdateIdp = "updateIdp";
    public const string DeleteIdp = "deleteIdp";
    public const string ListIdps = "listIdps";
    public const string GetIdp = "getIdp";
    public const string CreateIdpOrg = "createIdpOrg";
    public const string DeleteIdpOrg = "deleteIdpOrg";
    public const string ListIdpOrgs = "listIdpOrgs";
    public const string UpdateIdpOrg = "updateIdpOrg";

    // API keys
    public const string CreateApiKey = "createApiKey";
    public const string DeleteApiKey = "deleteApiKey";
    public const string SetApiKeyActions = "setApiKeyActions";
    public const string SetApiKeyOrgs = "setApiKeyOrgs";
    public const string ListApiKeyActions = "listApiKeyActions";
    public const string ListApiKeys = "listApiKeys";
    public const string GetApiKey = "getApiKey";

    // Certificates, blueprints, logs
    public const string GetCertificate = "getCertificate";
    public const string RestartCertificate = "restartCertificate";
    public const string ListBlueprints = "listBlueprints";
    public const string GetBlueprint = "getBlueprint";
    public const string ApplyBlueprint = "applyBlueprint";
    public const string ViewLogs = "viewLogs";
    public const string ExportLogs = "exportLogs";

    // Labels and health checks
    public const string ListOrgLabels = "listOrgLabels";
    public const string CreateOrgLabel = "createOrgLabel";
    public const string UpdateOrgLabel = "updateOrgLabel";
    public const string DeleteOrgLabel = "deleteOrgLabel";
    public const string AttachLabelToItem = "attachLabelToItem";
    public const string DetachLabelFromItem = "detachLabelFromItem";
    public const string CreateHealthCheck = "createHealthCheck";
    public const string UpdateHealthCheck = "updateHealthCheck";
    public const string DeleteHealthCheck = "deleteHealthCheck";
    public const string ListHealthChecks = "listHealthChecks";

    /// <summary>Every action id, in declaration order.</summary>
    public static readonly IReadOnlyList<string> All = typeof(ActionIds)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToArray();

    private static readonly HashSet<string> Known = new(All, StringComparer.Ordinal);

    public static bool IsKnown(string actionId) => Known.Contains(actionId);

    /// <summary>What a new custom role and the built-in Member role may do (upstream's defaults).</summary>
    public static readonly IReadOnlyList<string> MemberDefaults =
        [GetOrg, GetResource, ListResources, GetSiteResource, ListSiteResources];
}
