using System.Diagnostics;
using System.Globalization;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Gerbil.Tests.Infrastructure;

/// <summary>
/// A built program run as `dotnet program.dll …` (optionally inside a network namespace), its output kept line by
/// line; every wait is bounded. Environment variables a developer may have set for the real programs are removed.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    private static readonly string[] InheritedSettings =
        ["INTERFACE", "REMOTE_CONFIG", "REACHABLE_AT", "MTU", "GENERATE_AND_SAVE_KEY_TO", "LOG_LEVEL"];

    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public IReadOnlyList<string> Stdout => Snapshot(_stdout);

    public IReadOnlyList<string> Stderr => Snapshot(_stderr);

    /// <summary>gerbil.dll, copied beside the tests by the project reference.</summary>
    public static string GerbilDll => Path.Combine(AppContext.BaseDirectory, "gerbil.dll");

    /// <summary>src/Pangolin.Server/bin/&lt;configuration&gt;/&lt;tfm&gt;/pangolin.dll, built by the (assembly-less) project reference.</summary>
    public static string PangolinDll
    {
        get
        {
            var projectDir = new DirectoryInfo(AppContext.BaseDirectory);
            while (projectDir is not null && !File.Exists(Path.Combine(projectDir.FullName, "Pangolin.Gerbil.Tests.csproj")))
            {
                projectDir = projectDir.Parent;
            }
            if (projectDir?.Parent?.Parent is not { } root)
            {
                throw new InvalidOperationException($"no test project above {AppContext.BaseDirectory}");
            }
            var relative = Path.GetRelativePath(projectDir.FullName, AppContext.BaseDirectory); // bin/Debug/net10.0
            var dll = Path.Combine(root.FullName, "src", "Pangolin.Server", relative, "pangolin.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("pangolin.dll was not built", dll);
        }
    }

    public static ChildProcess StartGerbil(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Start(GerbilDll, null, null, environment, args);

    public static ChildProcess StartGerbilInNamespace(string netns, params string[] args) =>
        Start(GerbilDll, netns, null, null, args);

    /// <param name="dll">The program.</param>
    /// <param name="netns">A network namespace to run it in (`ip netns exec`); null for the test's own.</param>
    /// <param name="workingDirectory">Its working directory; null for the test's.</param>
    /// <param name="environment">Variables to set for it.</param>
    /// <param name="args">Its arguments.</param>
    public static ChildProcess Start(string dll, string? netns, string? workingDirectory, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo(netns is null ? "dotnet" : "ip")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        string[] command = netns is null ? [dll, .. args] : ["netns", "exec", netns, "dotnet", dll, .. args];
        foreach (var arg in command)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var key in start.Environment.Keys.Where(k => InheritedSettings.Contains(k)
            || k.StartsWith("PANGOLIN_", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{dll} did not start");
        var child = new ChildProcess(process, Path.GetFileNameWithoutExtension(dll));
        process.OutputDataReceived += (_, e) => Keep(child._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(child._stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits until a line of standard output contains <paramref name="text"/>; fails with the output if it exits or the bound passes.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan? within = null)
    {
        if (!await Eventually.TrueAsync(() => Stdout.Any(l => l.Contains(text, StringComparison.Ordinal)) || _process.HasExited, within ?? Within)
            || !Stdout.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            Assert.Fail($"{Name} did not print \"{text}\" ({(_process.HasExited ? "it exited" : "still running")}):\n{Output()}");
        }
    }

    /// <summary>Sends SIGTERM, as systemd or docker stop does.</summary>
    public void Terminate() => NetworkNamespace.Run("kill", "-TERM", Id.ToString(CultureInfo.InvariantCulture));

    /// <summary>Waits for the exit (bounded); the exit code, or null if it is still running.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? Within);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            _process.WaitForExit(); // flushes the output readers
            return _process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public string Output() => $"{Name} stdout:\n  " + string.Join("\n  ", Stdout) + $"\n{Name} stderr:\n  " + string.Join("\n  ", Stderr);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await WaitForExitAsync();
        _process.Dispose();
    }

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
}
