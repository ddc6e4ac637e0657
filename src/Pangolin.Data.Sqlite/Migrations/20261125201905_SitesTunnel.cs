using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Pangolin.Data.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class SitesTunnel : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_sites_exit_node_id",
                table: "sites");

            migrationBuilder.AddColumn<string>(
                name: "agent",
                table: "newts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "agent_version",
                table: "newts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "embedded",
                table: "exit_nodes",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "private_key_protected",
                table: "exit_nodes",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_targets_site_id_internal_port",
                table: "targets",
                columns: new[] { "site_id", "internal_port" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_sites_exit_node_id_subnet",
                table: "sites",
                columns: new[] { "exit_node_id", "subnet" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_exit_nodes_public_key",
                table: "exit_nodes",
                column: "public_key",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_targets_site_id_internal_port",
                table: "targets");

            migrationBuilder.DropIndex(
                name: "ix_sites_exit_node_id_subnet",
                table: "sites");

            migrationBuilder.DropIndex(
                name: "ix_exit_nodes_public_key",
                table: "exit_nodes");

            migrationBuilder.DropColumn(
                name: "agent",
                table: "newts");

            migrationBuilder.DropColumn(
                name: "agent_version",
                table: "newts");

            migrationBuilder.DropColumn(
                name: "embedded",
                table: "exit_nodes");

            migrationBuilder.DropColumn(
                name: "private_key_protected",
                table: "exit_nodes");

            migrationBuilder.CreateIndex(
                name: "ix_sites_exit_node_id",
                table: "sites",
                column: "exit_node_id");
        }
    }
}
