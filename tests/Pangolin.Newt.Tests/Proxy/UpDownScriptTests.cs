using Microsoft.Extensions.Logging.Abstractions;
using Pangolin.Newt.Proxy;

namespace Pangolin.Newt.Tests.Proxy;

/// <summary>The --updown runner against real shell scripts.</summary>
public sealed class UpDownScriptTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("newt-updown-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Script(string body)
    {
        var path = Path.Combine(_directory, $"updown-{Guid.NewGuid():N}.sh");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    private static string? Run(string script, TimeSpan? timeout = null) =>
        UpDownScript.Run(script, "add", "tcp", "[fd00::5]:80", timeout ?? TimeSpan.FromSeconds(20), NullLogger.Instance);

    [Fact]
    public void The_script_gets_the_action_the_protocol_and_the_target_as_three_arguments()
    {
        Assert.Equal("add|tcp|[fd00::5]:80", Run(Script("echo \"$1|$2|$3\"")));
    }

    [Fact]
    public void Its_trimmed_output_is_the_replacement_and_the_hook_passes_it_on()
    {
        var hook = UpDownScript.CreateHook(Script("printf '  10.0.0.7:8080 \\n\\n'"));

        Assert.Equal("10.0.0.7:8080", hook("add", "udp", "192.168.1.5:53"));
    }

    [Fact]
    public void No_output_means_no_replacement()
    {
        Assert.Null(Run(Script("exit 0")));
    }

    [Fact]
    public void A_failing_script_replaces_nothing()
    {
        Assert.Null(Run(Script("echo 10.0.0.7:8080; exit 3")));
    }

    [Fact]
    public void A_script_that_cannot_be_started_replaces_nothing()
    {
        Assert.Null(Run(Path.Combine(_directory, "missing.sh")));
    }

    [Fact]
    public void A_script_that_hangs_is_killed_at_the_timeout_and_replaces_nothing()
    {
        var marker = Path.Combine(_directory, "finished");
        Assert.Null(Run(Script($"sleep 30; touch '{marker}'; echo 10.0.0.7:8080"), TimeSpan.FromMilliseconds(500)));
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void The_relay_options_take_the_idle_timeout_and_the_updown_script_from_the_command_line()
    {
        var script = Script("echo 10.0.0.9:9000");
        var options = CommandLine.Parse(["--id", "a", "--secret", "b", "--endpoint", "https://p.example.com", "--udp-proxy-idle-timeout", "45s", "--updown", script], new Dictionary<string, string>()).Options!;

        var relay = ProxyOptions.From(options, NullLoggerFactory.Instance);

        Assert.Equal(TimeSpan.FromSeconds(45), relay.UdpIdleTimeout);
        Assert.Equal("10.0.0.9:9000", relay.UpDown!("add", "tcp", "127.0.0.1:80"));
        Assert.Null(ProxyOptions.From(options with { UpDownScript = null }, NullLoggerFactory.Instance).UpDown);
    }
}
