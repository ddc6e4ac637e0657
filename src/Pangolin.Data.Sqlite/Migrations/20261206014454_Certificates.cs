using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Pangolin.Data.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Certificates : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "certificates",
                columns: table => new
                {
                    cert_id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    domain = table.Column<string>(type: "TEXT", maxLength: 255, nullable: false),
                    domain_id = table.Column<string>(type: "TEXT", nullable: true),
                    org_id = table.Column<string>(type: "TEXT", nullable: true),
                    wildcard = table.Column<bool>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    source = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    not_before = table.Column<DateTime>(type: "TEXT", nullable: true),
                    not_after = table.Column<DateTime>(type: "TEXT", nullable: true),
                    chain_pem = table.Column<string>(type: "TEXT", nullable: true),
                    key_encrypted = table.Column<string>(type: "TEXT", nullable: true),
                    last_attempt_at = table.Column<DateTime>(type: "TEXT", nullable: true),
                    last_error = table.Column<string>(type: "TEXT", nullable: true),
                    attempt_count = table.Column<int>(type: "INTEGER", nullable: false),
                    renewal_count = table.Column<int>(type: "INTEGER", nullable: false),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_certificates", x => x.cert_id);
                    table.ForeignKey(
                        name: "fk_certificates_domains_domain_id",
                        column: x => x.domain_id,
                        principalTable: "domains",
                        principalColumn: "domain_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "fk_certificates_orgs_org_id",
                        column: x => x.org_id,
                        principalTable: "orgs",
                        principalColumn: "org_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_certificates_domain_id",
                table: "certificates",
                column: "domain_id");

            migrationBuilder.CreateIndex(
                name: "ix_certificates_domain_source",
                table: "certificates",
                columns: new[] { "domain", "source" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_certificates_org_id",
                table: "certificates",
                column: "org_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "certificates");
        }
    }
}
