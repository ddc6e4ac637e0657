using System.Diagnostics;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>The real `pangolin` program (the built pangolin.dll) run as a child process, with bounded waits.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly CapturedOutput _output;

    private ServerProcess(Process process)
    {
        _process = process;
        _output = new CapturedOutput(process);
    }

    public string Stdout => _output.Stdout;

    public string Stderr => _output.Stderr;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "pangolin.dll");

    public static ServerProcess Start(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProgramPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // Servers run side by side: each edge gets a free port unless the test names one (CLI commands take no settings).
        if (args.All(a => a.StartsWith("--", StringComparison.Ordinal)) && !args.Any(a => a.StartsWith("--Edge:HttpPort=", StringComparison.Ordinal)))
        {
            start.ArgumentList.Add($"--Edge:HttpPort={SmtpTestServer.FreePort()}");
        }
        if (args.All(a => a.StartsWith("--", StringComparison.Ordinal)) && !args.Any(a => a.StartsWith("--Edge:HttpsPort=", StringComparison.Ordinal)))
        {
            start.ArgumentList.Add("--Edge:HttpsPort=0");
        }
        // The test runner's own settings must not leak into the program under test.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("PANGOLIN_", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        // Servers run side by side in tests: the embedded exit node takes a free UDP port (a --Gerbil:ListenPort wins).
        start.Environment["Gerbil__ListenPort"] = "0";
        return new ServerProcess(System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>Runs to completion (bounded) and returns the exit code.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string workingDirectory, string? stdin, params string[] args)
    {
        await using var p = Start(workingDirectory, args);
        if (stdin is not null)
        {
            await p._process.StandardInput.WriteLineAsync(stdin);
        }
        p._process.StandardInput.Close();
        await p._process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        p._process.WaitForExit(); // flushes the asynchronous output readers
        return (p.ExitCode, p.Stdout, p.Stderr);
    }

    /// <summary>Waits until the standard output contains a text (bounded), or the process exits.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Stdout.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"pangolin exited ({_process.ExitCode}) before printing '{text}': {Stdout} {Stderr}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"pangolin did not print '{text}' in time: {Stdout} {Stderr}");
            }
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        _process.Dispose();
    }
}
