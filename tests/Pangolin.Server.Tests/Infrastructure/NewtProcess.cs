using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>
/// The newt executable as an operator runs it (`dotnet newt.dll`, built beside the tests), optionally behind a
/// wrapper such as `ip netns exec NS setpriv --reuid nobody`, with its output captured line by line.
/// </summary>
public sealed class NewtProcess : IDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);
    private readonly Process _process;
    private readonly CapturedOutput _output;

    public NewtProcess(params string[] args)
        : this([], AppContext.BaseDirectory, args)
    {
    }

    /// <param name="wrapper">The command line that runs dotnet (empty: run it directly).</param>
    /// <param name="appDirectory">Where newt.dll and its dependencies are.</param>
    /// <param name="args">newt's own arguments.</param>
    public NewtProcess(IReadOnlyList<string> wrapper, string appDirectory, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(wrapper.Count > 0 ? wrapper[0] : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var part in wrapper.Skip(1).Concat(wrapper.Count > 0 ? ["dotnet"] : []))
        {
            start.ArgumentList.Add(part);
        }
        start.ArgumentList.Add(Path.Combine(appDirectory, "newt.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var key in new[] { "NEWT_ID", "NEWT_SECRET", "PANGOLIN_ENDPOINT" })
        {
            start.Environment.Remove(key);
        }
        start.Environment["HOME"] = appDirectory; // another user has no home of ours to write to
        start.Environment["DOTNET_NOLOGO"] = "1";
        _process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        _output = new CapturedOutput(_process);
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Stdout => _output.Stdout;

    public string Stderr => _output.Stderr;

    /// <summary>The last lines of both outputs, for a failure message.</summary>
    public string Tail(int lines = 40) =>
        string.Join('\n', (Stdout + Stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));

    /// <summary>SIGTERM, as systemd or docker stop sends it.</summary>
    public void Terminate() => Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    /// <summary>SIGKILL: no goodbye, as a crash or a power cut.</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    public async Task<int> ExitCodeAsync()
    {
        await _process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Within, TestContext.Current.CancellationToken);
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    private int _disposed;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }

    /// <summary>
    /// Copies newt.dll, its deps.json and runtimeconfig.json and the runtime files the deps.json names into
    /// <paramref name="directory"/>, readable by every user: another user (nobody) cannot read a build folder under
    /// root's home.
    /// </summary>
    public static void CopyApp(string directory)
    {
        var from = AppContext.BaseDirectory;
        var files = new HashSet<string>(StringComparer.Ordinal) { "newt.dll", "newt.deps.json", "newt.runtimeconfig.json" };
        using (var deps = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(from, "newt.deps.json"))))
        {
            foreach (var target in deps.RootElement.GetProperty("targets").EnumerateObject())
            {
                foreach (var library in target.Value.EnumerateObject())
                {
                    foreach (var kind in new[] { "runtime", "native", "runtimeTargets" })
                    {
                        if (library.Value.TryGetProperty(kind, out var assets))
                        {
                            // Project assets and runtime-specific ones keep their path in the output; a package's
                            // lib/<tfm>/X.dll lands as X.dll.
                            files.UnionWith(assets.EnumerateObject()
                                .Select(asset => File.Exists(Path.Combine(from, asset.Name)) ? asset.Name : Path.GetFileName(asset.Name))
                                .Where(name => File.Exists(Path.Combine(from, name))));
                        }
                    }
                }
            }
        }
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, (UnixFileMode)0x1ED); // 0755
        foreach (var file in files)
        {
            var destination = Path.Combine(directory, file);
            var folder = Path.GetDirectoryName(destination)!;
            for (var current = folder; current.Length > directory.Length; current = Path.GetDirectoryName(current)!)
            {
                Directory.CreateDirectory(current);
                File.SetUnixFileMode(current, (UnixFileMode)0x1ED);
            }
            File.Copy(Path.Combine(from, file), destination, overwrite: true);
            File.SetUnixFileMode(destination, (UnixFileMode)0x1A4); // 0644
        }
    }
}
