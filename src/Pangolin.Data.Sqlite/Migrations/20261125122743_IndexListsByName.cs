using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Pangolin.Data.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class IndexListsByName : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_sites_org_id_name_site_id",
                table: "sites",
                columns: new[] { "org_id", "name", "site_id" });

            migrationBuilder.CreateIndex(
                name: "ix_resources_org_id_name_resource_id",
                table: "resources",
                columns: new[] { "org_id", "name", "resource_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_sites_org_id_name_site_id",
                table: "sites");

            migrationBuilder.DropIndex(
                name: "ix_resources_org_id_name_resource_id",
                table: "resources");
        }
    }
}
