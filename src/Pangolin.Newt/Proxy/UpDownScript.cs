using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pangolin.Newt.Proxy;

/// <summary>
/// Upstream newt's <c>--updown</c> script: run as <c>script add|remove tcp|udp host:port</c> when a target is added or
/// removed. Whatever it prints on stdout (trimmed), if anything, replaces the target's <c>host:port</c>.
/// </summary>
internal static class UpDownScript
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A hook for <see cref="ProxyOptions.UpDown"/> that runs <paramref name="script"/>.</summary>
    public static Func<string, string, string, string?> CreateHook(string script, TimeSpan? timeout = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        var limit = timeout ?? DefaultTimeout;
        var log = logger ?? NullLogger.Instance;
        return (action, protocol, target) => Run(script, action, protocol, target, limit, log);
    }

    /// <summary>
    /// Runs the script and returns its trimmed stdout, or null when it printed nothing, failed, or did not finish
    /// within <paramref name="timeout"/> (it is then killed).
    /// </summary>
    public static string? Run(string script, string action, string protocol, string target, TimeSpan timeout, ILogger logger)
    {
        var start = new ProcessStartInfo(script)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(action);
        start.ArgumentList.Add(protocol);
        start.ArgumentList.Add(target);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            UpDownLog.CannotStart(logger, script, e.Message);
            return null;
        }
        using (process)
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            // Both bounded: a script can exit while a child it left behind still holds stdout open.
            if (!process.WaitForExit(timeout) || !output.Wait(timeout))
            {
                process.Kill(entireProcessTree: true);
                UpDownLog.TimedOut(logger, script, action, target, timeout);
                return null;
            }
            var text = output.Result.Trim();
            if (process.ExitCode != 0)
            {
                UpDownLog.Failed(logger, script, action, target, process.ExitCode);
                return null;
            }
            return text.Length == 0 ? null : text;
        }
    }
}

internal static partial class UpDownLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "updown script {Script} cannot be started: {Reason}")]
    public static partial void CannotStart(ILogger logger, string script, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "updown script {Script} {Action} {Target} did not finish within {Timeout}; killed")]
    public static partial void TimedOut(ILogger logger, string script, string action, string target, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "updown script {Script} {Action} {Target} exited with {ExitCode}; its output is ignored")]
    public static partial void Failed(ILogger logger, string script, string action, string target, int exitCode);
}
