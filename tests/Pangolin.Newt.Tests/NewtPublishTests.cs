using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Pangolin.Newt.Tests;

/// <summary>
/// newt ships as one Native AOT executable: the publish succeeds (the AOT analyzers pass), the folder holds the binary
/// and its stripped symbols and nothing else (libsodium travels inside it), the binary runs with no .NET runtime and
/// does its X25519 with the library it carries, and it stays within the size budget (15 MB).
/// </summary>
public sealed class NewtPublishTests
{
    private const long SizeBudget = 15_000_000;

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Pangolin.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Pangolin.slnx not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> args, TimeSpan limit, IDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(limit);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish within {limit}");
        }
        return (process.ExitCode, await output + await error);
    }

    /// <summary>Runs until a line contains <paramref name="marker"/> (or the limit passes), then kills the process.</summary>
    private static async Task<(bool Seen, string Output)> RunUntilAsync(string program, IEnumerable<string> args, string marker, TimeSpan limit, IDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Directory.CreateTempSubdirectory("newt-run-").FullName,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        var output = new StringBuilder();
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (output)
            {
                output.AppendLine(line);
            }
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                seen.TrySetResult();
            }
        }
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Task.WhenAny(seen.Task, process.WaitForExitAsync(TestContext.Current.CancellationToken), Task.Delay(limit, TestContext.Current.CancellationToken));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Directory.Delete(start.WorkingDirectory, recursive: true);
        }
        lock (output)
        {
            return (seen.Task.IsCompleted, output.ToString());
        }
    }

    [Fact]
    public async Task Newt_publishes_as_one_native_executable_that_runs_without_a_dotnet_runtime_within_15_MB()
    {
        var output = Directory.CreateTempSubdirectory("newt-aot-").FullName;
        try
        {
            var (exitCode, log) = await RunAsync("dotnet",
                ["publish", Path.Combine(RepositoryRoot(), "src", "Pangolin.Newt", "Pangolin.Newt.csproj"), "-c", "Release", "-r", "linux-x64", "-o", output, "--nologo", "-v", "q"],
                TimeSpan.FromMinutes(15));
            Assert.True(exitCode == 0, log);

            var executable = Path.Combine(output, "newt");
            Assert.False(File.Exists(Path.Combine(output, "newt.dll")), "a managed newt.dll: the publish was not Native AOT");
            Assert.Equal(["newt", "newt.dbg"], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            var size = new FileInfo(executable).Length;
            Assert.True(size <= SizeBudget, $"newt is {size:N0} bytes, over the {SizeBudget:N0}-byte budget");
            // No runtime to lean on: a PATH without dotnet and no DOTNET_ROOT.
            var (versionExit, version) = await RunAsync(executable, ["--version"], TimeSpan.FromSeconds(30),
                new Dictionary<string, string?> { ["PATH"] = "/usr/bin:/bin", ["DOTNET_ROOT"] = null });
            Assert.Equal(0, versionExit);
            Assert.StartsWith("newt ", version, StringComparison.Ordinal);

            // Started for real (towards a closed port), it derives its WireGuard public key at once: libsodium's X25519,
            // from the copy inside the binary. Nothing else to find it with: an empty folder as working directory.
            var (_, started) = await RunUntilAsync(executable, ["--id", "publish-test", "--secret", "not-used", "--endpoint", "http://127.0.0.1:9"],
                "WireGuard public key ", TimeSpan.FromSeconds(30), new Dictionary<string, string?> { ["PATH"] = "/usr/bin:/bin", ["DOTNET_ROOT"] = null, ["LD_LIBRARY_PATH"] = null });
            var key = Regex.Match(started, "WireGuard public key ([A-Za-z0-9+/]{43}=)");
            Assert.True(key.Success, started);
            Assert.Equal(32, Convert.FromBase64String(key.Groups[1].Value).Length);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
