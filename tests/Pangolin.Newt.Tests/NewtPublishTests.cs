using System.Diagnostics;

namespace Pangolin.Newt.Tests;

/// <summary>
/// newt ships as one Native AOT executable: the publish succeeds (the AOT analyzers pass), the binary runs with no
/// .NET runtime beside it, and it stays within the size budget (15 MB). libsodium.so is the one native library
/// allowed beside it.
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
            Assert.DoesNotContain(Directory.GetFiles(output), f => f.EndsWith(".dll", StringComparison.Ordinal));
            var size = new FileInfo(executable).Length;
            Assert.True(size <= SizeBudget, $"newt is {size:N0} bytes, over the {SizeBudget:N0}-byte budget");
            // No runtime to lean on: a PATH without dotnet and no DOTNET_ROOT.
            var (versionExit, version) = await RunAsync(executable, ["--version"], TimeSpan.FromSeconds(30),
                new Dictionary<string, string?> { ["PATH"] = "/usr/bin:/bin", ["DOTNET_ROOT"] = null });
            Assert.Equal(0, versionExit);
            Assert.StartsWith("newt ", version, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
