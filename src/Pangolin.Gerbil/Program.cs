using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tun;
using Pangolin.WireGuard.Uapi;

// gerbil --interface wg0 --foreground: brings up a TUN-backed WireGuard interface the way `wireguard-go -f wg0`
// does; `ip` gives it addresses and `wg` configures it through the UAPI socket /var/run/wireguard/wg0.sock.
var interfaceOption = new Option<string?>("--interface", "-i") { Description = "Interface name (at most 15 characters)" };
var interfaceArgument = new Argument<string?>("interface") { Description = "Interface name, as wireguard-go takes it", Arity = ArgumentArity.ZeroOrOne };
var foreground = new Option<bool>("--foreground", "-f") { Description = "Stay in the foreground (the only mode: run it under systemd or a supervisor)" };
var mtu = new Option<int>("--mtu") { Description = "Interface MTU", DefaultValueFactory = _ => 1420 };
var verbose = new Option<bool>("--verbose", "-v") { Description = "Log handshakes and errors" };
var root = new RootCommand("gerbil: the Pangolin exit node's WireGuard interface (userspace, TUN-backed)")
{
    interfaceOption, interfaceArgument, foreground, mtu, verbose,
};
root.SetAction(async (parse, cancellationToken) =>
{
    var name = parse.GetValue(interfaceOption) ?? parse.GetValue(interfaceArgument);
    if (string.IsNullOrEmpty(name))
    {
        await Console.Error.WriteLineAsync("gerbil: name the interface: gerbil --interface wg0 --foreground");
        return 2;
    }
    if (name.Length > 15)
    {
        await Console.Error.WriteLineAsync($"gerbil: interface name '{name}' is longer than 15 characters");
        return 2;
    }
    using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true)
        .SetMinimumLevel(parse.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information));
    var logger = loggerFactory.CreateLogger("gerbil");
    var interfaceMtu = parse.GetValue(mtu);
    if (interfaceMtu is < 68 or > 65535)
    {
        await Console.Error.WriteLineAsync($"gerbil: --mtu must be between 68 and 65535, not {interfaceMtu}");
        return 2;
    }
    LinuxTun tun;
    try
    {
        tun = LinuxTun.Create(name, interfaceMtu);
    }
    catch (ArgumentException)
    {
        await Console.Error.WriteLineAsync($"gerbil: '{name}' is not a valid interface name (printable ASCII, no '/' or ':', at most 15 characters)");
        return 2;
    }
    catch (IOException e)
    {
        await Console.Error.WriteLineAsync($"gerbil: cannot create TUN device '{name}': {e.Message} (root or CAP_NET_ADMIN is needed)");
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
    GerbilLog.Started(logger, tun.Name);

    var stop = new TaskCompletionSource();
    using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
    using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
    await stop.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    GerbilLog.Stopping(logger, tun.Name);
    await uapi.DisposeAsync();
    await device.DisposeAsync();
    return 0;
});
// SIGTERM and SIGINT are ours (the registrations in the action): System.CommandLine's own handling would cancel the
// action's token instead, the wait would throw, and gerbil would exit 1 without removing its UAPI socket.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

internal static partial class GerbilLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Interface {Interface} is up; configure it with ip and wg")]
    public static partial void Started(ILogger logger, string @interface);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down {Interface}")]
    public static partial void Stopping(ILogger logger, string @interface);
}
