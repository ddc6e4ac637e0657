using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.EndToEnd;

/// <summary>
/// The newt executable as an operator runs it: a refused secret is one line and exit code 3, an unreachable server is
/// retried with a clear line each time, and SIGTERM stops it in order (exit 0) with its site offline at once.
/// </summary>
public sealed class NewtProcessTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    protected override bool Kestrel => true;

    [Fact]
    public async Task A_refused_secret_is_one_line_and_exit_code_3()
    {
        var site = await CreateNewtSiteAsync();
        using var newt = new NewtProcess("--id", site.NewtId, "--secret", site.Secret + "x", "--endpoint", Factory.Endpoint.ToString());
        Assert.Equal(3, await newt.ExitCodeAsync());
        var line = Assert.Single(newt.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"newt: the server refused newt id {site.NewtId}: ", line, StringComparison.Ordinal);
        Assert.Contains("check --id and --secret", line, StringComparison.Ordinal);
        Assert.DoesNotContain(site.Secret, newt.Stdout + newt.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_is_retried_and_sigterm_stops_a_connected_newt_with_its_site_offline_at_once()
    {
        var closedPort = SmtpTestServer.FreePort();
        using (var lost = new NewtProcess("--id", "abcdefgh", "--secret", new string('s', 48), "--endpoint", $"http://127.0.0.1:{closedPort}"))
        {
            await EventuallyAsync(() => Task.FromResult(lost.Stdout.Split($"cannot reach http://127.0.0.1:{closedPort}").Length > 2), "two attempts, each reported");
            lost.Terminate();
            Assert.Equal(0, await lost.ExitCodeAsync());
        }

        var site = await CreateNewtSiteAsync();
        using var newt = new NewtProcess("--id", site.NewtId, "--secret", site.Secret, "--endpoint", Factory.Endpoint.ToString());
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online");
        await EventuallyAsync(() => Task.FromResult(newt.Stdout.Contains("Tunnel up", StringComparison.Ordinal)), "the tunnel is up");
        newt.Terminate();
        Assert.Equal(0, await newt.ExitCodeAsync());
        // Offline now, not after Newt:OfflineAfterSeconds: the newt said goodbye and closed its socket.
        await EventuallyAsync(async () => !(await PresenceAsync(site.SiteId)).Online, "the site is offline");
        Assert.DoesNotContain(site.Secret, newt.Stdout + newt.Stderr, StringComparison.Ordinal);
    }
}
