using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tun;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.Gerbil;

/// <summary>
/// gerbil without a remote config: brings up a TUN-backed WireGuard interface the way `wireguard-go -f wg0` does;
/// `ip` gives it addresses and `wg` configures it through the UAPI socket /var/run/wireguard/&lt;name&gt;.sock.
/// </summary>
internal static partial class InterfaceHost
{
    public static async Task<int> RunAsync(GerbilOptions options)
    {
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.MinimumLogLevel));
        var logger = loggerFactory.CreateLogger("gerbil");
        LinuxTun tun;
        try
        {
            tun = LinuxTun.Create(options.InterfaceName, options.Mtu);
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"gerbil: cannot create TUN device '{options.InterfaceName}': {e.Message} (root or CAP_NET_ADMIN is needed)");
            return 1;
        }
        var device = new WireGuardDevice(tun, port => LinuxUdpTransport.Bind(port), new DeviceOptions { LoggerFactory = loggerFactory });
        UapiServer uapi;
        try
        {
            uapi = UapiServer.Start(tun.Name, device, logger: loggerFactory.CreateLogger("uapi"));
        }
        catch (IOException e)
        {
            await device.DisposeAsync();
            await Console.Error.WriteLineAsync($"gerbil: cannot open the UAPI socket: {e.Message}");
            return 1;
        }
        device.Start();
        LogStarted(logger, tun.Name);

        var stop = new TaskCompletionSource();
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
        await stop.Task;
        LogStopping(logger, tun.Name);
        await uapi.DisposeAsync();
        await device.DisposeAsync();
        return 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Interface {Interface} is up; configure it with ip and wg")]
    private static partial void LogStarted(ILogger logger, string @interface);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down {Interface}")]
    private static partial void LogStopping(ILogger logger, string @interface);
}
