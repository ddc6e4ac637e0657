using System.Runtime.Versioning;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Interop;

/// <summary>The gerbil host as a process, set up with `ip` and `wg` exactly like wireguard-go, against wireguard-go.</summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Interop")]
public sealed class GerbilInteropTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Gerbil_configured_with_wg_and_ip_pings_wireguard_go_and_exits_cleanly_on_SIGTERM()
    {
        await using var net = await InteropNetwork.CreateAsync(withOurDevice: false);
        var socket = Path.Combine(UapiServerOptions.DefaultSocketDirectory, net.OurInterface + ".sock");
        await using var gerbil = await GerbilProcess.StartInterfaceAsync(net.Ours.Name, net.OurInterface);
        try
        {
            InteropNetwork.AddressAndUp(net.Ours, net.OurInterface, InteropNetwork.OurTunnel);
            await net.ConfigureGoAsync();
            await net.ConfigureOursWithWgAsync();

            Assert.True(await InteropNetwork.PingAsync(net.Ours, InteropNetwork.GoTunnel), "gerbil → go\n" + gerbil.Output());
            Assert.True(await InteropNetwork.PingAsync(net.Go, InteropNetwork.OurTunnel), "go → gerbil\n" + gerbil.Output());
            Assert.NotEqual(0, (await net.OurDumpAsync()).Peer.LatestHandshake);

            gerbil.Terminate();
            var exitCode = await gerbil.WaitForExitAsync(Within);
            Assert.True(exitCode == 0, $"gerbil exited with {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing (still running)"} on SIGTERM\n{gerbil.Output()}");
            Assert.False(File.Exists(socket), "gerbil left its UAPI socket behind");
            Assert.Null(net.Ours.TryShowLink(net.OurInterface));
        }
        finally
        {
            // Killed after a failure, it cannot remove its socket itself.
            if (File.Exists(socket))
            {
                File.Delete(socket);
            }
        }
    }

    [Fact]
    public async Task Gerbil_without_an_interface_exits_non_zero_with_a_one_line_message()
    {
        await using var gerbil = GerbilProcess.Start(null);
        var exitCode = await gerbil.WaitForExitAsync(Within);

        Assert.NotNull(exitCode);
        Assert.NotEqual(0, exitCode);
        var message = Assert.Single(gerbil.Stderr, line => line.Length > 0);
        Assert.Contains("interface", message, StringComparison.Ordinal);
        Assert.DoesNotContain(gerbil.Stdout, line => line.Length > 0);
    }

    [Theory]
    [InlineData("--interface bad/name --foreground", "interface name")]
    [InlineData("--interface pwgbad0 --mtu 10", "--mtu")]
    [InlineData("--interface pwgbad0 --mtu 70000", "--mtu")]
    public async Task Gerbil_refuses_a_bad_name_or_MTU_with_one_line_and_creates_nothing(string arguments, string named)
    {
        await using var gerbil = GerbilProcess.Start(null, arguments.Split(' '));
        var exitCode = await gerbil.WaitForExitAsync(Within);

        Assert.Equal(2, exitCode);
        var message = Assert.Single(gerbil.Stderr, line => line.Length > 0);
        Assert.Contains(named, message, StringComparison.Ordinal);
        Assert.False(Directory.Exists("/sys/class/net/pwgbad0"), "no interface was left behind");
    }
}
