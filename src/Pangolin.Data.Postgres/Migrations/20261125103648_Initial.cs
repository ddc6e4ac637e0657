using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Pangolin.Data.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "action_audit_logs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    timestamp = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: true),
                    actor_type = table.Column<string>(type: "text", nullable: false),
                    actor_id = table.Column<string>(type: "text", nullable: false),
                    actor = table.Column<string>(type: "text", nullable: true),
                    action = table.Column<string>(type: "text", nullable: false),
                    metadata = table.Column<string>(type: "text", nullable: true),
                    ip = table.Column<string>(type: "text", nullable: true),
                    status = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_action_audit_logs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "actions",
                columns: table => new
                {
                    action_id = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    name = table.Column<string>(type: "text", nullable: true),
                    description = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_actions", x => x.action_id);
                });

            migrationBuilder.CreateTable(
                name: "api_keys",
                columns: table => new
                {
                    api_key_id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    api_key_hash = table.Column<string>(type: "text", nullable: false),
                    last_chars = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    is_root = table.Column<bool>(type: "boolean", nullable: false),
                    last_used_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_keys", x => x.api_key_id);
                });

            migrationBuilder.CreateTable(
                name: "domains",
                columns: table => new
                {
                    domain_id = table.Column<string>(type: "text", nullable: false),
                    base_domain = table.Column<string>(type: "character varying(253)", maxLength: 253, nullable: false),
                    config_managed = table.Column<bool>(type: "boolean", nullable: false),
                    type = table.Column<string>(type: "text", nullable: false),
                    verified = table.Column<bool>(type: "boolean", nullable: false),
                    failed = table.Column<bool>(type: "boolean", nullable: false),
                    tries = table.Column<int>(type: "integer", nullable: false),
                    cert_resolver = table.Column<string>(type: "text", nullable: true),
                    prefer_wildcard_cert = table.Column<bool>(type: "boolean", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_domains", x => x.domain_id);
                });

            migrationBuilder.CreateTable(
                name: "exit_nodes",
                columns: table => new
                {
                    exit_node_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    name = table.Column<string>(type: "text", nullable: false),
                    address = table.Column<string>(type: "text", nullable: false),
                    endpoint = table.Column<string>(type: "text", nullable: false),
                    public_key = table.Column<string>(type: "text", nullable: true),
                    listen_port = table.Column<int>(type: "integer", nullable: false),
                    reachable_at = table.Column<string>(type: "text", nullable: true),
                    online = table.Column<bool>(type: "boolean", nullable: false),
                    last_ping = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    type = table.Column<string>(type: "text", nullable: false),
                    region = table.Column<string>(type: "text", nullable: true),
                    max_connections = table.Column<int>(type: "integer", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_exit_nodes", x => x.exit_node_id);
                });

            migrationBuilder.CreateTable(
                name: "orgs",
                columns: table => new
                {
                    org_id = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    subnet = table.Column<string>(type: "text", nullable: false),
                    utility_subnet = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    require_two_factor = table.Column<bool>(type: "boolean", nullable: false),
                    max_session_length_hours = table.Column<int>(type: "integer", nullable: true),
                    password_expiry_days = table.Column<int>(type: "integer", nullable: true),
                    settings_log_retention_days_request = table.Column<int>(type: "integer", nullable: true),
                    settings_log_retention_days_action = table.Column<int>(type: "integer", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_orgs", x => x.org_id);
                });

            migrationBuilder.CreateTable(
                name: "server_settings",
                columns: table => new
                {
                    key = table.Column<string>(type: "text", nullable: false),
                    value = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_server_settings", x => x.key);
                });

            migrationBuilder.CreateTable(
                name: "setup_tokens",
                columns: table => new
                {
                    token_id = table.Column<string>(type: "text", nullable: false),
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    used = table.Column<bool>(type: "boolean", nullable: false),
                    date_created = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    date_used = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_setup_tokens", x => x.token_id);
                });

            migrationBuilder.CreateTable(
                name: "users",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    email = table.Column<string>(type: "character varying(320)", maxLength: 320, nullable: false),
                    username = table.Column<string>(type: "text", nullable: true),
                    name = table.Column<string>(type: "text", nullable: true),
                    type = table.Column<string>(type: "text", nullable: false),
                    idp_id = table.Column<int>(type: "integer", nullable: true),
                    password_hash = table.Column<string>(type: "text", nullable: true),
                    two_factor_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    two_factor_setup_requested = table.Column<bool>(type: "boolean", nullable: false),
                    two_factor_secret = table.Column<string>(type: "text", nullable: true),
                    two_factor_last_step = table.Column<long>(type: "bigint", nullable: true),
                    email_verified = table.Column<bool>(type: "boolean", nullable: false),
                    server_admin = table.Column<bool>(type: "boolean", nullable: false),
                    date_created = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_password_change = table.Column<DateTime>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_users", x => x.user_id);
                });

            migrationBuilder.CreateTable(
                name: "api_key_actions",
                columns: table => new
                {
                    api_key_id = table.Column<string>(type: "text", nullable: false),
                    action_id = table.Column<string>(type: "character varying(100)", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_key_actions", x => new { x.api_key_id, x.action_id });
                    table.ForeignKey(
                        name: "fk_api_key_actions_actions_action_id",
                        column: x => x.action_id,
                        principalTable: "actions",
                        principalColumn: "action_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_api_key_actions_api_keys_api_key_id",
                        column: x => x.api_key_id,
                        principalTable: "api_keys",
                        principalColumn: "api_key_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "dns_records",
                columns: table => new
                {
                    dns_record_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    domain_id = table.Column<string>(type: "text", nullable: false),
                    record_type = table.Column<string>(type: "text", nullable: false),
                    base_domain = table.Column<string>(type: "text", nullable: false),
                    value = table.Column<string>(type: "text", nullable: false),
                    verified = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dns_records", x => x.dns_record_id);
                    table.ForeignKey(
                        name: "fk_dns_records_domains_domain_id",
                        column: x => x.domain_id,
                        principalTable: "domains",
                        principalColumn: "domain_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "api_key_orgs",
                columns: table => new
                {
                    api_key_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_api_key_orgs", x => new { x.api_key_id, x.org_id });
                    table.ForeignKey(
                        name: "fk_api_key_orgs_api_keys_api_key_id",
                        column: x => x.api_key_id,
                        principalTable: "api_keys",
                        principalColumn: "api_key_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_api_key_orgs_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "org_domains",
                columns: table => new
                {
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    domain_id = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_org_domains", x => new { x.org_id, x.domain_id });
                    table.ForeignKey(
                        name: "fk_org_domains_domains_domain_id",
                        column: x => x.domain_id,
                        principalTable: "domains",
                        principalColumn: "domain_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_org_domains_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resources",
                columns: table => new
                {
                    resource_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_guid = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    nice_id = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    subdomain = table.Column<string>(type: "text", nullable: true),
                    full_domain = table.Column<string>(type: "character varying(253)", maxLength: 253, nullable: true),
                    domain_id = table.Column<string>(type: "text", nullable: true),
                    ssl = table.Column<bool>(type: "boolean", nullable: false),
                    block_access = table.Column<bool>(type: "boolean", nullable: false),
                    sso = table.Column<bool>(type: "boolean", nullable: false),
                    http = table.Column<bool>(type: "boolean", nullable: false),
                    protocol = table.Column<string>(type: "text", nullable: false),
                    proxy_port = table.Column<int>(type: "integer", nullable: true),
                    email_whitelist_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    apply_rules = table.Column<bool>(type: "boolean", nullable: false),
                    enabled = table.Column<bool>(type: "boolean", nullable: false),
                    sticky_session = table.Column<bool>(type: "boolean", nullable: false),
                    tls_server_name = table.Column<string>(type: "text", nullable: true),
                    set_host_header = table.Column<string>(type: "text", nullable: true),
                    enable_proxy = table.Column<bool>(type: "boolean", nullable: false),
                    skip_to_idp_id = table.Column<int>(type: "integer", nullable: true),
                    headers = table.Column<string>(type: "text", nullable: true),
                    post_auth_path = table.Column<string>(type: "text", nullable: true),
                    proxy_protocol = table.Column<bool>(type: "boolean", nullable: false),
                    proxy_protocol_version = table.Column<int>(type: "integer", nullable: true),
                    mode = table.Column<string>(type: "text", nullable: false),
                    maintenance_mode_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    maintenance_mode_type = table.Column<string>(type: "text", nullable: true),
                    maintenance_title = table.Column<string>(type: "text", nullable: true),
                    maintenance_message = table.Column<string>(type: "text", nullable: true),
                    maintenance_estimated_time = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resources", x => x.resource_id);
                    table.ForeignKey(
                        name: "fk_resources_domains_domain_id",
                        column: x => x.domain_id,
                        principalTable: "domains",
                        principalColumn: "domain_id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "fk_resources_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "roles",
                columns: table => new
                {
                    role_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    is_admin = table.Column<bool>(type: "boolean", nullable: false),
                    name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    description = table.Column<string>(type: "text", nullable: true),
                    require_device_approval = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_roles", x => x.role_id);
                    table.ForeignKey(
                        name: "fk_roles_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "sites",
                columns: table => new
                {
                    site_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    nice_id = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    exit_node_id = table.Column<int>(type: "integer", nullable: true),
                    name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    pub_key = table.Column<string>(type: "text", nullable: true),
                    subnet = table.Column<string>(type: "text", nullable: true),
                    address = table.Column<string>(type: "text", nullable: true),
                    megabytes_in = table.Column<double>(type: "double precision", nullable: false),
                    megabytes_out = table.Column<double>(type: "double precision", nullable: false),
                    last_bandwidth_update = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    type = table.Column<string>(type: "text", nullable: false),
                    online = table.Column<bool>(type: "boolean", nullable: false),
                    last_ping = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    endpoint = table.Column<string>(type: "text", nullable: true),
                    public_ip = table.Column<string>(type: "text", nullable: true),
                    last_hole_punch = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    listen_port = table.Column<int>(type: "integer", nullable: true),
                    docker_socket_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    status = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_sites", x => x.site_id);
                    table.ForeignKey(
                        name: "fk_sites_exit_nodes_exit_node_id",
                        column: x => x.exit_node_id,
                        principalTable: "exit_nodes",
                        principalColumn: "exit_node_id",
                        onDelete: ReferentialAction.SetNull);
                    table.ForeignKey(
                        name: "fk_sites_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_invites",
                columns: table => new
                {
                    invite_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    email = table.Column<string>(type: "text", nullable: false),
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    invited_by_user_id = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_invites", x => x.invite_id);
                    table.ForeignKey(
                        name: "fk_user_invites_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "email_verification_codes",
                columns: table => new
                {
                    code_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    user_id = table.Column<string>(type: "text", nullable: false),
                    email = table.Column<string>(type: "text", nullable: false),
                    code_hash = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_email_verification_codes", x => x.code_id);
                    table.ForeignKey(
                        name: "fk_email_verification_codes_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "password_reset_tokens",
                columns: table => new
                {
                    token_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    user_id = table.Column<string>(type: "text", nullable: false),
                    email = table.Column<string>(type: "text", nullable: false),
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_password_reset_tokens", x => x.token_id);
                    table.ForeignKey(
                        name: "fk_password_reset_tokens_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "sessions",
                columns: table => new
                {
                    session_id = table.Column<string>(type: "text", nullable: false),
                    user_id = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    last_seen_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ip = table.Column<string>(type: "text", nullable: true),
                    user_agent = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_sessions", x => x.session_id);
                    table.ForeignKey(
                        name: "fk_sessions_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "two_factor_backup_codes",
                columns: table => new
                {
                    code_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    user_id = table.Column<string>(type: "text", nullable: false),
                    code_hash = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_two_factor_backup_codes", x => x.code_id);
                    table.ForeignKey(
                        name: "fk_two_factor_backup_codes_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_actions",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    action_id = table.Column<string>(type: "character varying(100)", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_actions", x => new { x.user_id, x.org_id, x.action_id });
                    table.ForeignKey(
                        name: "fk_user_actions_actions_action_id",
                        column: x => x.action_id,
                        principalTable: "actions",
                        principalColumn: "action_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_actions_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_actions_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_orgs",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    is_owner = table.Column<bool>(type: "boolean", nullable: false),
                    auto_provisioned = table.Column<bool>(type: "boolean", nullable: false),
                    joined_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_orgs", x => new { x.user_id, x.org_id });
                    table.ForeignKey(
                        name: "fk_user_orgs_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_orgs_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_access_tokens",
                columns: table => new
                {
                    access_token_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "text", nullable: false),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    user_id = table.Column<string>(type: "text", nullable: true),
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    session_length = table.Column<long>(type: "bigint", nullable: true),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    title = table.Column<string>(type: "text", nullable: true),
                    description = table.Column<string>(type: "text", nullable: true),
                    path = table.Column<string>(type: "text", nullable: true),
                    persist_session = table.Column<bool>(type: "boolean", nullable: false),
                    created_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_access_tokens", x => x.access_token_id);
                    table.ForeignKey(
                        name: "fk_resource_access_tokens_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_access_tokens_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateTable(
                name: "resource_header_auths",
                columns: table => new
                {
                    header_auth_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    header_auth_hash = table.Column<string>(type: "text", nullable: false),
                    extended_compatibility = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_header_auths", x => x.header_auth_id);
                    table.ForeignKey(
                        name: "fk_resource_header_auths_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_otps",
                columns: table => new
                {
                    otp_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    email = table.Column<string>(type: "text", nullable: false),
                    otp_hash = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_otps", x => x.otp_id);
                    table.ForeignKey(
                        name: "fk_resource_otps_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_passwords",
                columns: table => new
                {
                    password_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    password_hash = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_passwords", x => x.password_id);
                    table.ForeignKey(
                        name: "fk_resource_passwords_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_pincodes",
                columns: table => new
                {
                    pincode_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    pincode_hash = table.Column<string>(type: "text", nullable: false),
                    digit_length = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_pincodes", x => x.pincode_id);
                    table.ForeignKey(
                        name: "fk_resource_pincodes_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_rules",
                columns: table => new
                {
                    rule_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    enabled = table.Column<bool>(type: "boolean", nullable: false),
                    priority = table.Column<int>(type: "integer", nullable: false),
                    action = table.Column<string>(type: "text", nullable: false),
                    match = table.Column<string>(type: "text", nullable: false),
                    value = table.Column<string>(type: "text", nullable: false),
                    method = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_rules", x => x.rule_id);
                    table.ForeignKey(
                        name: "fk_resource_rules_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_whitelists",
                columns: table => new
                {
                    whitelist_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    email = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_whitelists", x => x.whitelist_id);
                    table.ForeignKey(
                        name: "fk_resource_whitelists_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_resources",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    resource_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_resources", x => new { x.user_id, x.resource_id });
                    table.ForeignKey(
                        name: "fk_user_resources_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_resources_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "role_actions",
                columns: table => new
                {
                    role_id = table.Column<int>(type: "integer", nullable: false),
                    action_id = table.Column<string>(type: "character varying(100)", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_role_actions", x => new { x.role_id, x.action_id });
                    table.ForeignKey(
                        name: "fk_role_actions_actions_action_id",
                        column: x => x.action_id,
                        principalTable: "actions",
                        principalColumn: "action_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_role_actions_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_role_actions_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "roles",
                        principalColumn: "role_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "role_resources",
                columns: table => new
                {
                    role_id = table.Column<int>(type: "integer", nullable: false),
                    resource_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_role_resources", x => new { x.role_id, x.resource_id });
                    table.ForeignKey(
                        name: "fk_role_resources_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_role_resources_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "roles",
                        principalColumn: "role_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "newts",
                columns: table => new
                {
                    newt_id = table.Column<string>(type: "text", nullable: false),
                    secret_hash = table.Column<string>(type: "text", nullable: false),
                    date_created = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    version = table.Column<string>(type: "text", nullable: true),
                    site_id = table.Column<int>(type: "integer", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_newts", x => x.newt_id);
                    table.ForeignKey(
                        name: "fk_newts_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "site_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "role_sites",
                columns: table => new
                {
                    role_id = table.Column<int>(type: "integer", nullable: false),
                    site_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_role_sites", x => new { x.role_id, x.site_id });
                    table.ForeignKey(
                        name: "fk_role_sites_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "roles",
                        principalColumn: "role_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_role_sites_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "site_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "targets",
                columns: table => new
                {
                    target_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    site_id = table.Column<int>(type: "integer", nullable: false),
                    ip = table.Column<string>(type: "text", nullable: false),
                    method = table.Column<string>(type: "text", nullable: true),
                    port = table.Column<int>(type: "integer", nullable: false),
                    internal_port = table.Column<int>(type: "integer", nullable: true),
                    enabled = table.Column<bool>(type: "boolean", nullable: false),
                    path = table.Column<string>(type: "text", nullable: true),
                    path_match_type = table.Column<string>(type: "text", nullable: true),
                    rewrite_path = table.Column<string>(type: "text", nullable: true),
                    rewrite_path_type = table.Column<string>(type: "text", nullable: true),
                    priority = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_targets", x => x.target_id);
                    table.ForeignKey(
                        name: "fk_targets_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_targets_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "site_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_sites",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    site_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_sites", x => new { x.user_id, x.site_id });
                    table.ForeignKey(
                        name: "fk_user_sites_sites_site_id",
                        column: x => x.site_id,
                        principalTable: "sites",
                        principalColumn: "site_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_sites_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "user_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_invite_roles",
                columns: table => new
                {
                    invite_id = table.Column<string>(type: "text", nullable: false),
                    role_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_invite_roles", x => new { x.invite_id, x.role_id });
                    table.ForeignKey(
                        name: "fk_user_invite_roles_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "roles",
                        principalColumn: "role_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_invite_roles_user_invites_invite_id",
                        column: x => x.invite_id,
                        principalTable: "user_invites",
                        principalColumn: "invite_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "user_org_roles",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    org_id = table.Column<string>(type: "character varying(32)", nullable: false),
                    role_id = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_org_roles", x => new { x.user_id, x.org_id, x.role_id });
                    table.ForeignKey(
                        name: "fk_user_org_roles_roles_role_id",
                        column: x => x.role_id,
                        principalTable: "roles",
                        principalColumn: "role_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_user_org_roles_user_orgs_user_id_org_id",
                        columns: x => new { x.user_id, x.org_id },
                        principalTable: "user_orgs",
                        principalColumns: new[] { "user_id", "org_id" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "resource_sessions",
                columns: table => new
                {
                    session_id = table.Column<string>(type: "text", nullable: false),
                    resource_id = table.Column<int>(type: "integer", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    session_length = table.Column<long>(type: "bigint", nullable: false),
                    do_not_extend = table.Column<bool>(type: "boolean", nullable: false),
                    is_request_token = table.Column<bool>(type: "boolean", nullable: false),
                    user_session_id = table.Column<string>(type: "text", nullable: true),
                    password_id = table.Column<int>(type: "integer", nullable: true),
                    pincode_id = table.Column<int>(type: "integer", nullable: true),
                    whitelist_id = table.Column<int>(type: "integer", nullable: true),
                    access_token_id = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_resource_sessions", x => x.session_id);
                    table.ForeignKey(
                        name: "fk_resource_sessions_resource_access_tokens_access_token_id",
                        column: x => x.access_token_id,
                        principalTable: "resource_access_tokens",
                        principalColumn: "access_token_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_sessions_resource_passwords_password_id",
                        column: x => x.password_id,
                        principalTable: "resource_passwords",
                        principalColumn: "password_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_sessions_resource_pincodes_pincode_id",
                        column: x => x.pincode_id,
                        principalTable: "resource_pincodes",
                        principalColumn: "pincode_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_sessions_resource_whitelists_whitelist_id",
                        column: x => x.whitelist_id,
                        principalTable: "resource_whitelists",
                        principalColumn: "whitelist_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_sessions_resources_resource_id",
                        column: x => x.resource_id,
                        principalTable: "resources",
                        principalColumn: "resource_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_resource_sessions_sessions_user_session_id",
                        column: x => x.user_session_id,
                        principalTable: "sessions",
                        principalColumn: "session_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "newt_sessions",
                columns: table => new
                {
                    session_id = table.Column<string>(type: "text", nullable: false),
                    newt_id = table.Column<string>(type: "text", nullable: false),
                    expires_at = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_newt_sessions", x => x.session_id);
                    table.ForeignKey(
                        name: "fk_newt_sessions_newts_newt_id",
                        column: x => x.newt_id,
                        principalTable: "newts",
                        principalColumn: "newt_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "target_health_checks",
                columns: table => new
                {
                    target_health_check_id = table.Column<int>(type: "integer", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    target_id = table.Column<int>(type: "integer", nullable: false),
                    hc_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    hc_path = table.Column<string>(type: "text", nullable: true),
                    hc_scheme = table.Column<string>(type: "text", nullable: true),
                    hc_mode = table.Column<string>(type: "text", nullable: true),
                    hc_hostname = table.Column<string>(type: "text", nullable: true),
                    hc_port = table.Column<int>(type: "integer", nullable: true),
                    hc_interval = table.Column<int>(type: "integer", nullable: true),
                    hc_unhealthy_interval = table.Column<int>(type: "integer", nullable: true),
                    hc_timeout = table.Column<int>(type: "integer", nullable: true),
                    hc_headers = table.Column<string>(type: "text", nullable: true),
                    hc_follow_redirects = table.Column<bool>(type: "boolean", nullable: true),
                    hc_method = table.Column<string>(type: "text", nullable: true),
                    hc_status = table.Column<int>(type: "integer", nullable: true),
                    hc_health = table.Column<string>(type: "text", nullable: false),
                    hc_tls_server_name = table.Column<string>(type: "text", nullable: true),
                    hc_healthy_threshold = table.Column<int>(type: "integer", nullable: true),
                    hc_unhealthy_threshold = table.Column<int>(type: "integer", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_target_health_checks", x => x.target_health_check_id);
                    table.ForeignKey(
                        name: "fk_target_health_checks_targets_target_id",
                        column: x => x.target_id,
                        principalTable: "targets",
                        principalColumn: "target_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_action_audit_logs_org_id_timestamp",
                table: "action_audit_logs",
                columns: new[] { "org_id", "timestamp" });

            migrationBuilder.CreateIndex(
                name: "ix_api_key_actions_action_id",
                table: "api_key_actions",
                column: "action_id");

            migrationBuilder.CreateIndex(
                name: "ix_api_key_orgs_org_id",
                table: "api_key_orgs",
                column: "org_id");

            migrationBuilder.CreateIndex(
                name: "ix_dns_records_domain_id",
                table: "dns_records",
                column: "domain_id");

            migrationBuilder.CreateIndex(
                name: "ix_domains_base_domain",
                table: "domains",
                column: "base_domain",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_email_verification_codes_user_id",
                table: "email_verification_codes",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_newt_sessions_newt_id",
                table: "newt_sessions",
                column: "newt_id");

            migrationBuilder.CreateIndex(
                name: "ix_newts_site_id",
                table: "newts",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_org_domains_domain_id",
                table: "org_domains",
                column: "domain_id");

            migrationBuilder.CreateIndex(
                name: "ix_password_reset_tokens_user_id",
                table: "password_reset_tokens",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_access_tokens_org_id",
                table: "resource_access_tokens",
                column: "org_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_access_tokens_resource_id",
                table: "resource_access_tokens",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_access_tokens_user_id",
                table: "resource_access_tokens",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_header_auths_resource_id",
                table: "resource_header_auths",
                column: "resource_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resource_otps_resource_id_email",
                table: "resource_otps",
                columns: new[] { "resource_id", "email" });

            migrationBuilder.CreateIndex(
                name: "ix_resource_passwords_resource_id",
                table: "resource_passwords",
                column: "resource_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resource_pincodes_resource_id",
                table: "resource_pincodes",
                column: "resource_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resource_rules_resource_id",
                table: "resource_rules",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_access_token_id",
                table: "resource_sessions",
                column: "access_token_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_password_id",
                table: "resource_sessions",
                column: "password_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_pincode_id",
                table: "resource_sessions",
                column: "pincode_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_resource_id",
                table: "resource_sessions",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_user_session_id",
                table: "resource_sessions",
                column: "user_session_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_sessions_whitelist_id",
                table: "resource_sessions",
                column: "whitelist_id");

            migrationBuilder.CreateIndex(
                name: "ix_resource_whitelists_resource_id_email",
                table: "resource_whitelists",
                columns: new[] { "resource_id", "email" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resources_domain_id",
                table: "resources",
                column: "domain_id");

            migrationBuilder.CreateIndex(
                name: "ix_resources_full_domain",
                table: "resources",
                column: "full_domain",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resources_org_id_nice_id",
                table: "resources",
                columns: new[] { "org_id", "nice_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resources_proxy_port_protocol",
                table: "resources",
                columns: new[] { "proxy_port", "protocol" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_resources_resource_guid",
                table: "resources",
                column: "resource_guid",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_role_actions_action_id",
                table: "role_actions",
                column: "action_id");

            migrationBuilder.CreateIndex(
                name: "ix_role_actions_org_id",
                table: "role_actions",
                column: "org_id");

            migrationBuilder.CreateIndex(
                name: "ix_role_resources_resource_id",
                table: "role_resources",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_role_sites_site_id",
                table: "role_sites",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_roles_org_id_name",
                table: "roles",
                columns: new[] { "org_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_sessions_expires_at",
                table: "sessions",
                column: "expires_at");

            migrationBuilder.CreateIndex(
                name: "ix_sessions_user_id",
                table: "sessions",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_sites_exit_node_id",
                table: "sites",
                column: "exit_node_id");

            migrationBuilder.CreateIndex(
                name: "ix_sites_org_id_nice_id",
                table: "sites",
                columns: new[] { "org_id", "nice_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_target_health_checks_target_id",
                table: "target_health_checks",
                column: "target_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_targets_resource_id",
                table: "targets",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_targets_site_id",
                table: "targets",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_two_factor_backup_codes_user_id",
                table: "two_factor_backup_codes",
                column: "user_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_actions_action_id",
                table: "user_actions",
                column: "action_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_actions_org_id",
                table: "user_actions",
                column: "org_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_invite_roles_role_id",
                table: "user_invite_roles",
                column: "role_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_invites_org_id_email",
                table: "user_invites",
                columns: new[] { "org_id", "email" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_user_org_roles_role_id",
                table: "user_org_roles",
                column: "role_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_orgs_org_id",
                table: "user_orgs",
                column: "org_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_resources_resource_id",
                table: "user_resources",
                column: "resource_id");

            migrationBuilder.CreateIndex(
                name: "ix_user_sites_site_id",
                table: "user_sites",
                column: "site_id");

            migrationBuilder.CreateIndex(
                name: "ix_users_email",
                table: "users",
                column: "email",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "action_audit_logs");

            migrationBuilder.DropTable(
                name: "api_key_actions");

            migrationBuilder.DropTable(
                name: "api_key_orgs");

            migrationBuilder.DropTable(
                name: "dns_records");

            migrationBuilder.DropTable(
                name: "email_verification_codes");

            migrationBuilder.DropTable(
                name: "newt_sessions");

            migrationBuilder.DropTable(
                name: "org_domains");

            migrationBuilder.DropTable(
                name: "password_reset_tokens");

            migrationBuilder.DropTable(
                name: "resource_header_auths");

            migrationBuilder.DropTable(
                name: "resource_otps");

            migrationBuilder.DropTable(
                name: "resource_rules");

            migrationBuilder.DropTable(
                name: "resource_sessions");

            migrationBuilder.DropTable(
                name: "role_actions");

            migrationBuilder.DropTable(
                name: "role_resources");

            migrationBuilder.DropTable(
                name: "role_sites");

            migrationBuilder.DropTable(
                name: "server_settings");

            migrationBuilder.DropTable(
                name: "setup_tokens");

            migrationBuilder.DropTable(
                name: "target_health_checks");

            migrationBuilder.DropTable(
                name: "two_factor_backup_codes");

            migrationBuilder.DropTable(
                name: "user_actions");

            migrationBuilder.DropTable(
                name: "user_invite_roles");

            migrationBuilder.DropTable(
                name: "user_org_roles");

            migrationBuilder.DropTable(
                name: "user_resources");

            migrationBuilder.DropTable(
                name: "user_sites");

            migrationBuilder.DropTable(
                name: "api_keys");

            migrationBuilder.DropTable(
                name: "newts");

            migrationBuilder.DropTable(
                name: "resource_access_tokens");

            migrationBuilder.DropTable(
                name: "resource_passwords");

            migrationBuilder.DropTable(
                name: "resource_pincodes");

            migrationBuilder.DropTable(
                name: "resource_whitelists");

            migrationBuilder.DropTable(
                name: "sessions");

            migrationBuilder.DropTable(
                name: "targets");

            migrationBuilder.DropTable(
                name: "actions");

            migrationBuilder.DropTable(
                name: "user_invites");

            migrationBuilder.DropTable(
                name: "roles");

            migrationBuilder.DropTable(
                name: "user_orgs");

            migrationBuilder.DropTable(
                name: "resources");

            migrationBuilder.DropTable(
                name: "sites");

            migrationBuilder.DropTable(
                name: "users");

            migrationBuilder.DropTable(
                name: "domains");

            migrationBuilder.DropTable(
                name: "exit_nodes");

            migrationBuilder.DropTable(
                name: "orgs");
        }
    }
}
