using System.Diagnostics;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>Runs Debian's `wg` (wireguard-tools) with a bounded wait, here or inside a network namespace.</summary>
internal static class Wg
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string? stdin, params string[] args) =>
        RunInAsync(null, stdin, args);

    /// <summary>`ip netns exec <paramref name="netns"/> wg ...` (or plain `wg` when <paramref name="netns"/> is null).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunInAsync(string? netns, string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo(netns is null ? "wg" : "ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (netns is not null)
        {
            foreach (var arg in new[] { "netns", "exec", netns, "wg" })
            {
                start.ArgumentList.Add(arg);
            }
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // Show keys in `wg show` pretty output, so tests can compare them.
        start.Environment["WG_HIDE_KEYS"] = "never";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("wg did not start");
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(Timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"wg {string.Join(' ', args)} did not finish within {Timeout}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs wg and requires success; returns its standard output.</summary>
    public static Task<string> OkAsync(params string[] args) => OkInAsync(null, args);

    /// <summary>Runs wg inside <paramref name="netns"/> and requires success; returns its standard output.</summary>
    public static async Task<string> OkInAsync(string? netns, params string[] args)
    {
        var (code, stdout, stderr) = await RunInAsync(netns, null, args);
        Assert.True(code == 0, $"wg {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    /// <summary>The public key of a base64 private key, as `wg pubkey` computes it.</summary>
    public static async Task<string> PublicKeyAsync(string privateKeyBase64)
    {
        var (code, stdout, stderr) = await RunAsync(privateKeyBase64 + "\n", "pubkey");
        Assert.True(code == 0, stderr);
        return stdout.Trim();
    }
}
