using System.Diagnostics;

namespace Pangolin.Tunnel.Native;

/// <summary>
/// iproute2's `ip`, for what a TUN interface needs once created (address, link up, routes): gerbil's tun mode and
/// newt's --native both leave that to `ip`, as wireguard-go does (rtnetlink could replace it if start-up time
/// or AOT size ever asks).
/// </summary>
public static class IpCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Runs `ip` with <paramref name="arguments"/>; a failure carries ip's own message.</summary>
    /// <exception cref="IOException">ip is missing, failed or hung.</exception>
    public static async Task RunAsync(params string[] arguments)
    {
        var (exitCode, error) = await TryRunAsync(arguments).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new IOException($"ip {string.Join(' ', arguments)} failed: {error}");
        }
    }

    /// <summary>Runs `ip` and returns its exit code and standard error (trimmed).</summary>
    /// <exception cref="IOException">ip is missing or hung.</exception>
    public static async Task<(int ExitCode, string Error)> TryRunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException("ip did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot run ip (iproute2 is needed for a TUN interface): {e.Message}", e);
        }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(Timeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw new IOException($"ip {string.Join(' ', arguments)} did not finish within {Timeout.TotalSeconds:0} s");
            }
            await output.ConfigureAwait(false);
            return (process.ExitCode, (await error.ConfigureAwait(false)).Trim());
        }
    }

    /// <summary>Whether an `ip` program is on the PATH.</summary>
    public static bool IsInstalled() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(directory => File.Exists(Path.Combine(directory, "ip")));
}
