using System.Diagnostics;

namespace Pangolin.Newt.Tests;

/// <summary>The built newt executable (the apphost copied beside the tests), run as a user would.</summary>
public sealed class NewtProcessTests
{
    private static string NewtPath => Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "newt.exe" : "newt");

    internal static Task<(int ExitCode, string Output, string Error)> RunNewtAsync(params string[] args) => RunAsync(NewtPath, args);

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        // The child must not pick up a developer's real settings.
        foreach (var name in new[] { "NEWT_ID", "NEWT_SECRET", "PANGOLIN_ENDPOINT", "MTU", "LOG_LEVEL", "TLS_CLIENT_CERT", "TLS_CLIENT_KEY", "TLS_CLIENT_CAS", "TLS_CLIENT_CERT_PKCS12", "SKIP_TLS_VERIFY" })
        {
            start.Environment.Remove(name);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }
        return (process.ExitCode, await output, await error);
    }

    [Fact]
    public async Task Version_prints_one_line_on_stdout_and_exits_0()
    {
        var (exitCode, output, error) = await RunNewtAsync("--version");

        Assert.Equal(0, exitCode);
        Assert.Equal($"newt {CommandLine.Version}\n", output);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task A_bad_flag_prints_one_line_on_stderr_and_exits_2()
    {
        var (exitCode, output, error) = await RunNewtAsync("--id", "a", "--secret", "b", "--endpoint", "https://p.example.com", "--ping-interval", "3 seconds");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal("newt: --ping-interval: unknown unit \" seconds\" in duration \"3 seconds\"; use ns, us, ms, s, m or h\n", error);
    }

    [Fact]
    public async Task A_missing_client_certificate_file_gives_one_line_and_exit_2_before_connecting()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"newt-missing-{Guid.NewGuid():N}.pem");

        // The endpoint is a closed port: had newt tried to connect, it would retry rather than exit 2.
        var (exitCode, output, error) = await RunNewtAsync("--id", "a", "--secret", "b", "--endpoint", "https://127.0.0.1:9",
            "--tls-client-cert-file", missing, "--tls-client-key", missing);

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal($"newt: --tls-client-cert-file: {missing}: no such file\n", error);
    }

    [Fact]
    public async Task Native_mode_as_a_user_without_CAP_NET_ADMIN_gets_one_line_and_exit_2_before_connecting()
    {
        // The endpoint is a closed port: had newt tried to connect, it would retry rather than exit 2.
        var (exitCode, output, error) = await RunAsync("setpriv",
            "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
            NewtPath, "--id", "abcdefgh", "--secret", new string('s', 48), "--endpoint", "http://127.0.0.1:9", "--native");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal("newt: --native needs root or CAP_NET_ADMIN; run without --native for the userspace tunnel\n", error);
    }
}
