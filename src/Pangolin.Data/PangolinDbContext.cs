using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Pangolin.Data.Entities;

namespace Pangolin.Data;

/// <summary>
/// The control plane's database. One model serves SQLite and PostgreSQL; each provider keeps its own
/// migrations (Pangolin.Data.Sqlite, Pangolin.Data.Postgres). There are no navigation properties:
/// queries join explicitly, and foreign keys carry the cascade rules.
/// </summary>
public sealed class PangolinDbContext(DbContextOptions<PangolinDbContext> options) : DbContext(options)
{
    public DbSet<Org> Orgs => Set<Org>();
    public DbSet<User> Users => Set<User>();
    public DbSet<Session> Sessions => Set<Session>();
    public DbSet<UserOrg> UserOrgs => Set<UserOrg>();
    public DbSet<UserOrgRole> UserOrgRoles => Set<UserOrgRole>();
    public DbSet<Role> Roles => Set<Role>();
    public DbSet<ActionDefinition> Actions => Set<ActionDefinition>();
    public DbSet<RoleAction> RoleActions => Set<RoleAction>();
    public DbSet<UserAction> UserActions => Set<UserAction>();
    public DbSet<UserInvite> UserInvites => Set<UserInvite>();
    public DbSet<UserInviteRole> UserInviteRoles => Set<UserInviteRole>();
    public DbSet<TwoFactorBackupCode> TwoFactorBackupCodes => Set<TwoFactorBackupCode>();
    public DbSet<EmailVerificationCode> EmailVerificationCodes => Set<EmailVerificationCode>();
    public DbSet<PasswordResetToken> PasswordResetTokens => Set<PasswordResetToken>();
    public DbSet<SetupToken> SetupTokens => Set<SetupToken>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<ApiKeyAction> ApiKeyActions => Set<ApiKeyAction>();
    public DbSet<ApiKeyOrg> ApiKeyOrgs => Set<ApiKeyOrg>();
    public DbSet<ServerSetting> ServerSettings => Set<ServerSetting>();
    public DbSet<Site> Sites => Set<Site>();
    public DbSet<Newt> Newts => Set<Newt>();
    public DbSet<NewtSession> NewtSessions => Set<NewtSession>();
    public DbSet<ExitNode> ExitNodes => Set<ExitNode>();
    public DbSet<Resource> Resources => Set<Resource>();
    public DbSet<Target> Targets => Set<Target>();
    public DbSet<TargetHealthCheck> TargetHealthChecks => Set<TargetHealthCheck>();
    public DbSet<ResourceRule> ResourceRules => Set<ResourceRule>();
    public DbSet<ResourcePassword> ResourcePasswords => Set<ResourcePassword>();
    public DbSet<ResourcePincode> ResourcePincodes => Set<ResourcePincode>();
    public DbSet<ResourceHeaderAuth> ResourceHeaderAuths => Set<ResourceHeaderAuth>();
    public DbSet<ResourceWhitelist> ResourceWhitelists => Set<ResourceWhitelist>();
    public DbSet<ResourceOtp> ResourceOtps => Set<ResourceOtp>();
    public DbSet<ResourceAccessToken> ResourceAccessTokens => Set<ResourceAccessToken>();
    public DbSet<ResourceSession> ResourceSessions => Set<ResourceSession>();
    public DbSet<RoleResource> RoleResources => Set<RoleResource>();
    public DbSet<UserResource> UserResources => Set<UserResource>();
    public DbSet<RoleSite> RoleSites => Set<RoleSite>();
    public DbSet<UserSite> UserSites => Set<UserSite>();
    public DbSet<Domain> Domains => Set<Domain>();
    public DbSet<OrgDomain> OrgDomains => Set<OrgDomain>();
    public DbSet<DnsRecord> DnsRecords => Set<DnsRecord>();
    public DbSet<ActionAuditLog> ActionAuditLogs => Set<ActionAuditLog>();
    public DbSet<RequestAuditLog> RequestAuditLogs => Set<RequestAuditLog>();
    public DbSet<Certificate> Certificates => Set<Certificate>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        ArgumentNullException.ThrowIfNull(configurationBuilder);
        // Every timestamp is UTC; SQLite hands DateTime back as Unspecified and Npgsql insists on Utc.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ConfigureOrgs(modelBuilder);
        ConfigureUsers(modelBuilder);
        ConfigureSites(modelBuilder);
        ConfigureResources(modelBuilder);
        ConfigureCertificates(modelBuilder);
    }

    private static void ConfigureCertificates(ModelBuilder b) => b.Entity<Certificate>(e =>
    {
        e.HasKey(x => x.CertId);
        e.Property(x => x.Domain).HasMaxLength(255);
        e.Property(x => x.Status).HasMaxLength(16);
        e.Property(x => x.Source).HasMaxLength(16);
        // One certificate per name and source: an uploaded one beside the ACME one it overrides.
        e.HasIndex(x => new { x.Domain, x.Source }).IsUnique();
        e.HasIndex(x => x.DomainId);
        e.HasIndex(x => x.OrgId);
        CascadeFrom<Certificate, Domain>(e, x => x.DomainId);
        CascadeFrom<Certificate, Org>(e, x => x.OrgId);
    });

    private static void ConfigureOrgs(ModelBuilder b)
    {
        b.Entity<Org>(e =>
        {
            e.HasKey(x => x.OrgId);
            e.Property(x => x.OrgId).HasMaxLength(32);
            e.Property(x => x.Name).HasMaxLength(255);
        });
        b.Entity<UserOrg>(e =>
        {
            e.HasKey(x => new { x.UserId, x.OrgId });
            e.HasIndex(x => x.OrgId);
            CascadeFrom<UserOrg, User>(e, x => x.UserId);
            CascadeFrom<UserOrg, Org>(e, x => x.OrgId);
        });
        b.Entity<UserOrgRole>(e =>
        {
            e.HasKey(x => new { x.UserId, x.OrgId, x.RoleId });
            e.HasIndex(x => x.RoleId);
            e.HasOne<UserOrg>().WithMany().HasForeignKey(x => new { x.UserId, x.OrgId }).OnDelete(DeleteBehavior.Cascade);
            CascadeFrom<UserOrgRole, Role>(e, x => x.RoleId);
        });
        b.Entity<Role>(e =>
        {
            e.HasKey(x => x.RoleId);
            e.Property(x => x.Name).HasMaxLength(255);
            e.HasIndex(x => new { x.OrgId, x.Name }).IsUnique();
            CascadeFrom<Role, Org>(e, x => x.OrgId);
        });
        b.Entity<ActionDefinition>(e =>
        {
            e.ToTable("actions");
            e.HasKey(x => x.ActionId);
            e.Property(x => x.ActionId).HasMaxLength(100);
        });
        b.Entity<RoleAction>(e =>
        {
            e.HasKey(x => new { x.RoleId, x.ActionId });
            CascadeFrom<RoleAction, Role>(e, x => x.RoleId);
            CascadeFrom<RoleAction, ActionDefinition>(e, x => x.ActionId);
            CascadeFrom<RoleAction, Org>(e, x => x.OrgId);
        });
        b.Entity<UserAction>(e =>
        {
            e.HasKey(x => new { x.UserId, x.OrgId, x.ActionId });
            CascadeFrom<UserAction, User>(e, x => x.UserId);
            CascadeFrom<UserAction, ActionDefinition>(e, x => x.ActionId);
            CascadeFrom<UserAction, Org>(e, x => x.OrgId);
        });
        b.Entity<UserInvite>(e =>
        {
            e.HasKey(x => x.InviteId);
            e.HasIndex(x => new { x.OrgId, x.Email }).IsUnique();
            CascadeFrom<UserInvite, Org>(e, x => x.OrgId);
        });
        b.Entity<UserInviteRole>(e =>
        {
            e.HasKey(x => new { x.InviteId, x.RoleId });
            CascadeFrom<UserInviteRole, UserInvite>(e, x => x.InviteId);
            CascadeFrom<UserInviteRole, Role>(e, x => x.RoleId);
        });
        b.Entity<Domain>(e =>
        {
            e.HasKey(x => x.DomainId);
            e.Property(x => x.BaseDomain).HasMaxLength(253);
            e.HasIndex(x => x.BaseDomain).IsUnique();
        });
        b.Entity<OrgDomain>(e =>
        {
            e.HasKey(x => new { x.OrgId, x.DomainId });
            CascadeFrom<OrgDomain, Org>(e, x => x.OrgId);
            CascadeFrom<OrgDomain, Domain>(e, x => x.DomainId);
        });
        b.Entity<DnsRecord>(e =>
        {
            e.HasKey(x => x.DnsRecordId);
            CascadeFrom<DnsRecord, Domain>(e, x => x.DomainId);
        });
        b.Entity<ActionAuditLog>(e =>
        {
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Timestamp });
        });
        b.Entity<RequestAuditLog>(e =>
        {
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.OrgId, x.Timestamp });
            e.HasIndex(x => new { x.ResourceId, x.Timestamp });
            CascadeFrom<RequestAuditLog, Org>(e, x => x.OrgId);
        });
    }

    private static void ConfigureUsers(ModelBuilder b)
    {
        b.Entity<User>(e =>
        {
            e.HasKey(x => x.UserId);
            e.Property(x => x.Email).HasMaxLength(320);
            e.HasIndex(x => x.Email).IsUnique();
        });
        b.Entity<Session>(e =>
        {
            e.HasKey(x => x.SessionId);
            e.HasIndex(x => x.UserId);
            e.HasIndex(x => x.ExpiresAt);
            CascadeFrom<Session, User>(e, x => x.UserId);
        });
        b.Entity<TwoFactorBackupCode>(e =>
        {
            e.HasKey(x => x.CodeId);
            CascadeFrom<TwoFactorBackupCode, User>(e, x => x.UserId);
        });
        b.Entity<EmailVerificationCode>(e =>
        {
            e.HasKey(x => x.CodeId);
            CascadeFrom<EmailVerificationCode, User>(e, x => x.UserId);
        });
        b.Entity<PasswordResetToken>(e =>
        {
            e.HasKey(x => x.TokenId);
            CascadeFrom<PasswordResetToken, User>(e, x => x.UserId);
        });
        b.Entity<SetupToken>(e => e.HasKey(x => x.TokenId));
        b.Entity<ApiKey>(e =>
        {
            e.HasKey(x => x.ApiKeyId);
            e.Property(x => x.Name).HasMaxLength(255);
        });
        b.Entity<ApiKeyAction>(e =>
        {
            e.HasKey(x => new { x.ApiKeyId, x.ActionId });
            CascadeFrom<ApiKeyAction, ApiKey>(e, x => x.ApiKeyId);
            CascadeFrom<ApiKeyAction, ActionDefinition>(e, x => x.ActionId);
        });
        b.Entity<ApiKeyOrg>(e =>
        {
            e.HasKey(x => new { x.ApiKeyId, x.OrgId });
            e.HasIndex(x => x.OrgId);
            CascadeFrom<ApiKeyOrg, ApiKey>(e, x => x.ApiKeyId);
            CascadeFrom<ApiKeyOrg, Org>(e, x => x.OrgId);
        });
        b.Entity<ServerSetting>(e => e.HasKey(x => x.Key));
    }

    private static void ConfigureSites(ModelBuilder b)
    {
        b.Entity<ExitNode>(e =>
        {
            e.HasKey(x => x.ExitNodeId);
            // A remote gerbil registers (get-config) by its public key.
            e.HasIndex(x => x.PublicKey).IsUnique();
        });
        b.Entity<Site>(e =>
        {
            e.HasKey(x => x.SiteId);
            e.Property(x => x.Name).HasMaxLength(255);
            e.Property(x => x.NiceId).HasMaxLength(255);
            e.HasIndex(x => new { x.OrgId, x.NiceId }).IsUnique();
            // Lists are ordered by name: the index lets a page be read in order instead of sorting the whole org.
            e.HasIndex(x => new { x.OrgId, x.Name, x.SiteId });
            CascadeFrom<Site, Org>(e, x => x.OrgId);
            e.HasOne<ExitNode>().WithMany().HasForeignKey(x => x.ExitNodeId).OnDelete(DeleteBehavior.SetNull);
            // Two registrations racing for the same block: the second insert fails and retries with another one.
            e.HasIndex(x => new { x.ExitNodeId, x.Subnet }).IsUnique(); // NULLs are distinct in both providers
        });
        b.Entity<Newt>(e =>
        {
            e.HasKey(x => x.NewtId);
            e.HasIndex(x => x.SiteId);
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<NewtSession>(e =>
        {
            e.HasKey(x => x.SessionId);
            CascadeFrom<NewtSession, Newt>(e, x => x.NewtId);
        });
        b.Entity<RoleSite>(e =>
        {
            e.HasKey(x => new { x.RoleId, x.SiteId });
            CascadeFrom<RoleSite, Role>(e, x => x.RoleId);
            CascadeFrom<RoleSite, Site>(e, x => x.SiteId);
        });
        b.Entity<UserSite>(e =>
        {
            e.HasKey(x => new { x.UserId, x.SiteId });
            CascadeFrom<UserSite, User>(e, x => x.UserId);
            CascadeFrom<UserSite, Site>(e, x => x.SiteId);
        });
    }

    private static void ConfigureResources(ModelBuilder b)
    {
        b.Entity<Resource>(e =>
        {
            e.HasKey(x => x.ResourceId);
            e.Property(x => x.Name).HasMaxLength(255);
            e.Property(x => x.NiceId).HasMaxLength(255);
            e.Property(x => x.FullDomain).HasMaxLength(253);
            e.HasIndex(x => x.ResourceGuid).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.NiceId }).IsUnique();
            e.HasIndex(x => new { x.OrgId, x.Name, x.ResourceId });
            e.HasIndex(x => x.FullDomain).IsUnique();
            e.HasIndex(x => new { x.ProxyPort, x.Protocol }).IsUnique();
            CascadeFrom<Resource, Org>(e, x => x.OrgId);
            // A domain in use cannot be deleted: the API answers 409 rather than orphan the resources.
            e.HasOne<Domain>().WithMany().HasForeignKey(x => x.DomainId).OnDelete(DeleteBehavior.Restrict);
        });
        b.Entity<Target>(e =>
        {
            e.HasKey(x => x.TargetId);
            e.HasIndex(x => x.ResourceId);
            e.HasIndex(x => x.SiteId);
            // A newt listens on one port per target: two targets of a site can never share one.
            e.HasIndex(x => new { x.SiteId, x.InternalPort }).IsUnique();
            CascadeFrom<Target, Resource>(e, x => x.ResourceId);
            CascadeFrom<Target, Site>(e, x => x.SiteId);
        });
        b.Entity<TargetHealthCheck>(e =>
        {
            e.HasKey(x => x.TargetHealthCheckId);
            e.HasIndex(x => x.TargetId).IsUnique();
            CascadeFrom<TargetHealthCheck, Target>(e, x => x.TargetId);
        });
        b.Entity<ResourceRule>(e =>
        {
            e.HasKey(x => x.RuleId);
            e.HasIndex(x => x.ResourceId);
            CascadeFrom<ResourceRule, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourcePassword>(e =>
        {
            e.HasKey(x => x.PasswordId);
            e.HasIndex(x => x.ResourceId).IsUnique();
            CascadeFrom<ResourcePassword, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourcePincode>(e =>
        {
            e.HasKey(x => x.PincodeId);
            e.HasIndex(x => x.ResourceId).IsUnique();
            CascadeFrom<ResourcePincode, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourceHeaderAuth>(e =>
        {
            e.HasKey(x => x.HeaderAuthId);
            e.HasIndex(x => x.ResourceId).IsUnique();
            CascadeFrom<ResourceHeaderAuth, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourceWhitelist>(e =>
        {
            e.HasKey(x => x.WhitelistId);
            e.HasIndex(x => new { x.ResourceId, x.Email }).IsUnique();
            CascadeFrom<ResourceWhitelist, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourceOtp>(e =>
        {
            e.HasKey(x => x.OtpId);
            e.HasIndex(x => new { x.ResourceId, x.Email });
            CascadeFrom<ResourceOtp, Resource>(e, x => x.ResourceId);
        });
        b.Entity<ResourceAccessToken>(e =>
        {
            e.HasKey(x => x.AccessTokenId);
            e.HasIndex(x => x.ResourceId);
            e.HasIndex(x => x.OrgId);
            CascadeFrom<ResourceAccessToken, Resource>(e, x => x.ResourceId);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.SetNull);
        });
        b.Entity<ResourceSession>(e =>
        {
            e.HasKey(x => x.SessionId);
            e.HasIndex(x => x.ResourceId);
            CascadeFrom<ResourceSession, Resource>(e, x => x.ResourceId);
            e.HasOne<Session>().WithMany().HasForeignKey(x => x.UserSessionId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<ResourcePassword>().WithMany().HasForeignKey(x => x.PasswordId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<ResourcePincode>().WithMany().HasForeignKey(x => x.PincodeId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<ResourceWhitelist>().WithMany().HasForeignKey(x => x.WhitelistId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<ResourceAccessToken>().WithMany().HasForeignKey(x => x.AccessTokenId).OnDelete(DeleteBehavior.Cascade);
        });
        b.Entity<RoleResource>(e =>
        {
            e.HasKey(x => new { x.RoleId, x.ResourceId });
            e.HasIndex(x => x.ResourceId);
            CascadeFrom<RoleResource, Role>(e, x => x.RoleId);
            CascadeFrom<RoleResource, Resource>(e, x => x.ResourceId);
        });
        b.Entity<UserResource>(e =>
        {
            e.HasKey(x => new { x.UserId, x.ResourceId });
            e.HasIndex(x => x.ResourceId);
            CascadeFrom<UserResource, User>(e, x => x.UserId);
            CascadeFrom<UserResource, Resource>(e, x => x.ResourceId);
        });
    }

    private static void CascadeFrom<TDependent, TPrincipal>(
        EntityTypeBuilder<TDependent> e,
        System.Linq.Expressions.Expression<Func<TDependent, object?>> foreignKey)
        where TDependent : class
        where TPrincipal : class =>
        e.HasOne<TPrincipal>().WithMany().HasForeignKey(foreignKey).OnDelete(DeleteBehavior.Cascade);

    internal sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        v => v.Kind == DateTimeKind.Local ? v.ToUniversalTime() : DateTime.SpecifyKind(v, DateTimeKind.Utc),
        v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
}
