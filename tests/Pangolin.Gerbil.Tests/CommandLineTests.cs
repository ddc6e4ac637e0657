using System.Net;
using Microsoft.Extensions.Logging;

namespace Pangolin.Gerbil.Tests;

/// <summary>gerbil's flags and upstream's environment variables, parsed in process.</summary>
public sealed class CommandLineTests
{
    private static readonly Dictionary<string, string> NoEnvironment = [];

    /// <summary>An Ed25519 public key in upstream's format (base64 of 32 bytes).</summary>
    private const string SigningKey = "N7stoDdPdHmk5uFQXIownCxWtR+99jU4Cibb2N3zp7U=";

    private const string Token = "0123456789abcdef0123456789abcdef";

    private static GerbilOptions Run(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var result = CommandLine.Parse(args, environment);
        Assert.True(result.ExitCode is null, $"exit {result.ExitCode}: {result.Error}");
        return result.Options!;
    }

    private static string Refused(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var result = CommandLine.Parse(args, environment);
        Assert.Equal(CommandLineResult.BadUsage, result.ExitCode);
        Assert.DoesNotContain('\n', result.Error);
        Assert.StartsWith("gerbil: ", result.Error, StringComparison.Ordinal);
        return result.Error;
    }

    [Fact]
    public void Without_a_remote_config_gerbil_is_the_interface_it_always_was()
    {
        var options = Run(NoEnvironment, "--interface", "wg7", "--foreground");

        Assert.Null(options.RemoteConfig);
        Assert.Equal("wg7", options.InterfaceName);
        Assert.Equal(GerbilOptions.DefaultInterfaceMtu, options.Mtu);
        Assert.Equal("wg8", Run(NoEnvironment, "wg8", "-f").InterfaceName);
    }

    [Fact]
    public void Upstreams_environment_variables_make_a_managed_node()
    {
        var options = Run(new Dictionary<string, string>
        {
            ["REMOTE_CONFIG"] = "http://pangolin:3001/api/v1",
            ["INTERFACE"] = "wg5",
            ["REACHABLE_AT"] = "http://10.0.0.2:3004",
            ["MTU"] = "1400",
            ["GENERATE_AND_SAVE_KEY_TO"] = "/var/config/key",
            ["LOG_LEVEL"] = "debug",
        });

        Assert.Equal(new Uri("http://pangolin:3001/api/v1/gerbil/get-config"), options.RemoteConfig!.GetConfig);
        Assert.Equal(new Uri("http://pangolin:3001/api/v1/gerbil/receive-bandwidth"), options.RemoteConfig.ReceiveBandwidth);
        Assert.Equal("wg5", options.InterfaceName);
        Assert.Equal(new Uri("http://10.0.0.2:3004"), options.ReachableAt);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 3004), options.ApiListen);
        Assert.Equal(1400, options.Mtu);
        Assert.Equal("/var/config/key", options.KeyFile);
        Assert.Equal(LogLevel.Debug, options.MinimumLogLevel);
        Assert.Equal(GerbilOptions.DefaultListenPort, options.ListenPort);
    }

    [Fact]
    public void A_flag_beats_its_environment_variable()
    {
        var options = Run(new Dictionary<string, string> { ["REMOTE_CONFIG"] = "http://a:3001/api/v1", ["MTU"] = "1400", ["LOG_LEVEL"] = "ERROR" },
            "--remote-config", "http://b:3001/api/v1", "--mtu", "1300", "--log-level", "WARN");

        Assert.Equal("b", options.RemoteConfig!.Base.Host);
        Assert.Equal(1300, options.Mtu);
        Assert.Equal(LogLevel.Warning, options.MinimumLogLevel);
    }

    [Theory]
    [InlineData("http://pangolin:3001/api/v1")]
    [InlineData("http://pangolin:3001/api/v1/")]
    [InlineData("http://pangolin:3001/api/v1/gerbil/get-config")]
    [InlineData("http://pangolin:3001/api/v1/gerbil/receive-bandwidth")]
    [InlineData("http://pangolin:3001/api/v1/gerbil")]
    public void The_remote_config_is_accepted_with_or_without_upstreams_legacy_suffix(string url)
    {
        var options = Run(NoEnvironment, "--remote-config", url);

        Assert.Equal(new Uri("http://pangolin:3001/api/v1/gerbil/get-config"), options.RemoteConfig!.GetConfig);
    }

    [Fact]
    public void Upstreams_camel_case_flags_work_with_one_dash_or_two()
    {
        var options = Run(NoEnvironment, "-remoteConfig=http://pangolin:3001/api/v1", "--reachableAt", "http://gerbil:3004",
            "-generateAndSaveKeyTo", "/var/config/key");

        Assert.Equal("pangolin", options.RemoteConfig!.Base.Host);
        Assert.Equal(new Uri("http://gerbil:3004"), options.ReachableAt);
        Assert.Equal("/var/config/key", options.KeyFile);
    }

    [Fact]
    public void A_host_name_in_REACHABLE_AT_is_listened_for_on_every_address_and_its_port()
    {
        var options = Run(NoEnvironment, "--remote-config", "http://pangolin:3001/api/v1", "--reachable-at", "http://gerbil:3004");

        Assert.Equal(new IPEndPoint(IPAddress.IPv6Any, 3004), options.ApiListen);
    }

    [Fact]
    public void Without_REACHABLE_AT_the_API_listens_on_3003_as_upstreams_and_no_address_is_sent()
    {
        var options = Run(NoEnvironment, "--remote-config", "http://pangolin:3001/api/v1");

        Assert.Null(options.ReachableAt);
        Assert.Equal(GerbilOptions.DefaultApiPort, options.ApiListen.Port);
        Assert.Equal("wg0", options.InterfaceName);
        Assert.Equal(GerbilOptions.DefaultManagedMtu, options.Mtu);
    }

    [Fact]
    public void The_mode_defaults_to_tun_for_root_and_userspace_otherwise_and_a_flag_chooses()
    {
        var remote = new[] { "--remote-config", "http://pangolin:3001/api/v1" };

        Assert.Equal(Environment.IsPrivilegedProcess ? ExitNodeMode.Tun : ExitNodeMode.Userspace, Run(NoEnvironment, remote).Mode);
        Assert.Equal(ExitNodeMode.Userspace, Run(NoEnvironment, [.. remote, "--mode", "userspace"]).Mode);
        Assert.Equal(ExitNodeMode.Tun, Run(NoEnvironment, [.. remote, "--mode", "tun"]).Mode);
    }

    [Fact]
    public void The_endpoint_and_listen_port_are_taken_as_given()
    {
        var options = Run(NoEnvironment, "--remote-config", "http://pangolin:3001/api/v1", "--endpoint", "gerbil.example.com", "--listen-port", "51821");

        Assert.Equal("gerbil.example.com", options.Endpoint);
        Assert.Equal(51821, options.ListenPort);
    }

    [Theory]
    [InlineData("--remote-config ftp://pangolin/api/v1", "gerbil: --remote-config: ")]
    [InlineData("--remote-config http://p:3001/api/v1 --reachable-at gerbil:3004", "gerbil: --reachable-at: ")]
    [InlineData("--remote-config http://p:3001/api/v1 --mode kernel", "gerbil: --mode: \"kernel\" is not tun or userspace")]
    [InlineData("--remote-config http://p:3001/api/v1 --listen-port 0", "gerbil: --listen-port: must be between 1 and 65535")]
    [InlineData("--remote-config http://p:3001/api/v1 --mtu 100", "gerbil: --mtu: must be between 576 and 9000")]
    [InlineData("--remote-config http://p:3001/api/v1 --log-level LOUD", "gerbil: --log-level: ")]
    [InlineData("--remote-config http://p:3001/api/v1 --endpoint http://x", "gerbil: --endpoint: ")]
    [InlineData("--remote-config http://p:3001/api/v1 --interface much-too-long-name", "gerbil: --interface: ")]
    [InlineData("--remote-config http://p:3001/api/v1 --sni-port 8443", "gerbil: --sni-port: unknown flag")]
    [InlineData("--interface wg0 --mode userspace", "gerbil: --mode: only with --remote-config")]
    [InlineData("--interface wg0 --reachable-at http://x:1", "gerbil: --reachable-at: only with --remote-config")]
    [InlineData("--interface wg0 --remote-config-signing-key " + SigningKey, "gerbil: --remote-config-signing-key: only with --remote-config")]
    [InlineData("--remote-config http://p:3001/api/v1 --remote-config-signing-key AAAA", "gerbil: --remote-config-signing-key: is not an Ed25519 public key")]
    [InlineData("--remote-config http://p:3001/api/v1 --remote-config-signing-key not-base64!", "gerbil: --remote-config-signing-key: is not an Ed25519 public key")]
    public void A_bad_setting_is_one_line_naming_it_and_exit_2(string arguments, string expected)
    {
        Assert.StartsWith(expected, Refused(NoEnvironment, arguments.Split(' ')), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_environment_variable_is_named_in_the_message()
    {
        var error = Refused(new Dictionary<string, string> { ["REMOTE_CONFIG"] = "http://p:3001/api/v1", ["MTU"] = "big" });

        Assert.StartsWith("gerbil: MTU: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_control_token_and_the_signing_key_come_from_upstreams_variables()
    {
        var options = Run(new Dictionary<string, string>
        {
            ["REMOTE_CONFIG"] = "http://pangolin:3001/api/v1",
            ["CONTROL_API_TOKEN"] = Token,
            ["REMOTE_CONFIG_SIGNING_KEY"] = SigningKey,
        });

        Assert.Equal(Token, options.ControlApiToken);
        Assert.Equal(Convert.FromBase64String(SigningKey), options.ConfigSigningKey!.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey));
    }

    [Fact]
    public void The_signing_key_flag_beats_its_variable_and_without_either_nothing_is_required()
    {
        var other = Convert.ToBase64String(NSec.Cryptography.Key.Create(NSec.Cryptography.SignatureAlgorithm.Ed25519).PublicKey.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey));

        var options = Run(new Dictionary<string, string> { ["REMOTE_CONFIG_SIGNING_KEY"] = SigningKey },
            "--remote-config", "http://pangolin:3001/api/v1", "-remote-config-signing-key", other);
        var open = Run(NoEnvironment, "--remote-config", "http://pangolin:3001/api/v1");

        Assert.Equal(other, Convert.ToBase64String(options.ConfigSigningKey!.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey)));
        Assert.Null(open.ConfigSigningKey);
        Assert.Null(open.ControlApiToken);
    }

    [Fact]
    public void A_control_token_shorter_than_32_characters_is_refused_in_one_line_without_echoing_it()
    {
        var error = Refused(new Dictionary<string, string> { ["REMOTE_CONFIG"] = "http://p:3001/api/v1", ["CONTROL_API_TOKEN"] = Token[..31] });

        Assert.Equal("gerbil: CONTROL_API_TOKEN: must be at least 32 characters, not 31", error);
    }
}
