using System.Diagnostics;
using System.Runtime.Versioning;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// The gerbil host (src/Pangolin.Gerbil) as a process: `dotnet gerbil.dll ...`, optionally inside a network namespace,
/// its output kept. The test project builds it (a project reference without the assembly), so it is found in its
/// own bin directory under the same configuration and target framework as the tests.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class GerbilProcess : IAsyncDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];

    private GerbilProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public IReadOnlyList<string> Stdout => Snapshot(_stdout);

    public IReadOnlyList<string> Stderr => Snapshot(_stderr);

    /// <summary>src/Pangolin.Gerbil/bin/&lt;configuration&gt;/&lt;tfm&gt;/gerbil.dll, next to where the tests run from.</summary>
    public static string LocateDll()
    {
        var testBin = AppContext.BaseDirectory;
        var projectDir = new DirectoryInfo(testBin);
        while (projectDir is not null && !File.Exists(Path.Combine(projectDir.FullName, "Pangolin.WireGuard.Tests.csproj")))
        {
            projectDir = projectDir.Parent;
        }
        if (projectDir?.Parent?.Parent is not { } root)
        {
            throw new InvalidOperationException($"no test project above {testBin}");
        }
        var relative = Path.GetRelativePath(projectDir.FullName, testBin); // bin/Debug/net10.0
        var dll = Path.Combine(root.FullName, "src", "Pangolin.Gerbil", relative, "gerbil.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("gerbil.dll was not built", dll);
    }

    public static GerbilProcess Start(string? netns, params string[] args)
    {
        var start = new ProcessStartInfo(netns is null ? "dotnet" : "ip")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] command = netns is null ? [LocateDll(), .. args] : ["netns", "exec", netns, "dotnet", LocateDll(), .. args];
        foreach (var arg in command)
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("gerbil did not start");
        var gerbil = new GerbilProcess(process);
        process.OutputDataReceived += (_, e) => Keep(gerbil._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(gerbil._stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return gerbil;
    }

    /// <summary>Starts `gerbil --interface NAME --foreground` and waits for its UAPI socket.</summary>
    public static async Task<GerbilProcess> StartInterfaceAsync(string? netns, string interfaceName)
    {
        var gerbil = Start(netns, "--interface", interfaceName, "--foreground");
        var socket = Path.Combine(UapiServerOptions.DefaultSocketDirectory, interfaceName + ".sock");
        if (!await Eventually.TrueAsync(() => File.Exists(socket) || gerbil.HasExited, Within) || gerbil.HasExited)
        {
            var output = gerbil.Output();
            await gerbil.DisposeAsync();
            throw new InvalidOperationException($"gerbil made no socket for {interfaceName}:\n{output}");
        }
        return gerbil;
    }

    /// <summary>Sends SIGTERM (what systemd sends to stop it).</summary>
    public void Terminate() => NetworkNamespace.Run("kill", "-TERM", Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Waits for the exit (bounded) and returns the exit code, or null if it is still running.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan within)
    {
        using var timeout = new CancellationTokenSource(within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public string Output() => "stdout:\n  " + string.Join("\n  ", Stdout) + "\nstderr:\n  " + string.Join("\n  ", Stderr);

    private static void Keep(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (lines)
        {
            lines.Add(line);
        }
    }

    private static List<string> Snapshot(List<string> lines)
    {
        lock (lines)
        {
            return [.. lines];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await WaitForExitAsync(Within);
        _process.Dispose();
    }
}
