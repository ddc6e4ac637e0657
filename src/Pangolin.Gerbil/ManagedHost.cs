using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil;

/// <summary>
/// The process around a <see cref="ManagedExitNode"/>: the key, logging, the HTTP client for the server, and
/// SIGINT/SIGTERM, which stop the node in order and exit 0.
/// </summary>
internal static partial class ManagedHost
{
    /// <summary>Per request to the server: a hung server must not hold up the get-config loop or a report.</summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Upstream's body limit, for get-config's answer.</summary>
    private const int MaxResponseBytes = 1024 * 1024;

    public static async Task<int> RunAsync(GerbilOptions options, TextWriter error)
    {
        WgKey privateKey;
        var keyCreated = false;
        try
        {
            privateKey = options.KeyFile is { } path ? KeyFile.LoadOrCreate(path, out keyCreated) : WgKey.GeneratePrivate();
        }
        catch (KeyFileException e)
        {
            await error.WriteLineAsync($"gerbil: {e.Message}");
            return CommandLineResult.BadUsage;
        }

        using var loggerFactory = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(options.MinimumLogLevel)
            // Kestrel's and the host's own chatter only when something is wrong.
            .AddFilter("Microsoft", LogLevel.Warning));
        var logger = loggerFactory.CreateLogger("gerbil");
        var publicKey = privateKey.PublicKey();
        var mode = options.Mode == ExitNodeMode.Tun ? "tun" : "userspace";
        var detail = ModeReason(options);
        var server = options.RemoteConfig!.Base;
        LogStarting(logger, CommandLine.Version, mode, detail, publicKey, server);
        if (options.KeyFile is { } keyPath)
        {
            LogKey(logger, keyCreated ? "created" : "read", keyPath);
        }
        var signature = options.ConfigSigningKey is null ? "not checked (no REMOTE_CONFIG_SIGNING_KEY)" : "required";
        if (options.ControlApiToken is null)
        {
            LogApiOpen(logger, options.ApiListen, signature);
        }
        else
        {
            LogApiGuarded(logger, signature);
        }

        using var stop = new CancellationTokenSource();
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // stop in order rather than be killed
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var http = new HttpClient { Timeout = RequestTimeout, MaxResponseContentBufferSize = MaxResponseBytes };
        var node = new ManagedExitNode(options, privateKey, http, loggerFactory, TimeProvider.System);
        try
        {
            await node.RunAsync(stop.Token);
        }
        catch (StartFailedException e)
        {
            await error.WriteLineAsync($"gerbil: {e.Message}");
            return 1;
        }
        LogStopped(logger);
        return 0;
    }

    private static string ModeReason(GerbilOptions options) => (options.Mode, Environment.IsPrivilegedProcess) switch
    {
        (ExitNodeMode.Tun, true) => "TUN interface " + options.InterfaceName,
        (ExitNodeMode.Tun, false) => "TUN interface " + options.InterfaceName + ", which needs CAP_NET_ADMIN",
        _ => "no TUN, no root",
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "gerbil {Version}: managed exit node in {Mode} mode ({Detail}), public key {PublicKey}, server {Server}")]
    private static partial void LogStarting(ILogger logger, string version, string mode, string detail, WgKey publicKey, Uri server);

    [LoggerMessage(Level = LogLevel.Information, Message = "Private key {Action} {Path}")]
    private static partial void LogKey(ILogger logger, string action, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The peer API has no CONTROL_API_TOKEN: whoever reaches {Listen} can change the peers; get-config signature {Signature}")]
    private static partial void LogApiOpen(ILogger logger, System.Net.IPEndPoint listen, string signature);

    [LoggerMessage(Level = LogLevel.Information, Message = "The peer API requires the CONTROL_API_TOKEN; get-config signature {Signature}")]
    private static partial void LogApiGuarded(ILogger logger, string signature);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped")]
    private static partial void LogStopped(ILogger logger);
}
