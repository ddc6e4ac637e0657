using Pangolin.Newt.Control;

namespace Pangolin.Newt.Tests;

public sealed class CommandLineTests
{
    private static readonly string[] Required = ["--id", "site1", "--secret", "s3cret", "--endpoint", "https://pangolin.example.com"];

    private static readonly Dictionary<string, string> NoEnvironment = [];

    private static NewtOptions Good(string[] args, Dictionary<string, string>? environment = null)
    {
        var result = CommandLine.Parse(args, environment ?? NoEnvironment);
        Assert.True(result.ExitCode is null, result.Error);
        Assert.Equal("", result.Error);
        return Assert.IsType<NewtOptions>(result.Options);
    }

    private static string Bad(string[] args, Dictionary<string, string>? environment = null)
    {
        var result = CommandLine.Parse(args, environment ?? NoEnvironment);
        Assert.Equal(2, result.ExitCode);
        Assert.Null(result.Options);
        Assert.Equal("", result.Output);
        Assert.DoesNotContain('\n', result.Error);
        Assert.StartsWith("newt: ", result.Error, StringComparison.Ordinal);
        return result.Error;
    }

    [Fact]
    public void The_three_required_settings_alone_give_upstreams_defaults()
    {
        var options = Good(Required);

        Assert.Equal("site1", options.Id);
        Assert.Equal("s3cret", options.Secret);
        Assert.Equal(new Uri("https://pangolin.example.com"), options.Endpoint);
        Assert.Equal(1280, options.Mtu);
        Assert.Equal("9.9.9.9", options.Dns);
        Assert.Equal(NewtLogLevel.Info, options.LogLevel);
        Assert.Equal(TimeSpan.FromSeconds(3), options.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), options.PingTimeout);
        Assert.False(options.Native);
        Assert.Equal("newt", options.InterfaceName);
        Assert.Null(options.HealthFile);
        Assert.False(options.Metrics);
        Assert.Equal("127.0.0.1:2112", options.MetricsAddress);
        Assert.Null(options.UpDownScript);
        Assert.Same(ServerTls.Default, options.ServerTls);
        Assert.False(options.EnforceHealthCheckCert);
        Assert.Equal(TimeSpan.FromSeconds(90), options.UdpProxyIdleTimeout);
        Assert.Null(options.PreferEndpoint);
    }

    [Fact]
    public void Every_setting_can_come_from_its_environment_variable()
    {
        var options = Good([], new()
        {
            ["NEWT_ID"] = "envsite",
            ["NEWT_SECRET"] = "envsecret",
            ["PANGOLIN_ENDPOINT"] = "http://10.0.0.5:3000",
            ["MTU"] = "1420",
            ["DNS"] = "1.1.1.1",
            ["LOG_LEVEL"] = "debug",
            ["PING_INTERVAL"] = "10s",
            ["PING_TIMEOUT"] = "1500ms",
            ["USE_NATIVE_INTERFACE"] = "true",
            ["INTERFACE"] = "newt0",
            ["HEALTH_FILE"] = "/tmp/healthy",
            ["NEWT_METRICS_PROMETHEUS_ENABLED"] = "1",
            ["NEWT_ADMIN_ADDR"] = "0.0.0.0:9100",
            ["UPDOWN_SCRIPT"] = "/usr/local/bin/updown",
            ["ENFORCE_HC_CERT"] = "TRUE",
            ["NEWT_UDP_PROXY_IDLE_TIMEOUT"] = "2m",
        });

        Assert.Equal("envsite", options.Id);
        Assert.Equal("envsecret", options.Secret);
        Assert.Equal(new Uri("http://10.0.0.5:3000"), options.Endpoint);
        Assert.Equal(1420, options.Mtu);
        Assert.Equal("1.1.1.1", options.Dns);
        Assert.Equal(NewtLogLevel.Debug, options.LogLevel);
        Assert.Equal(TimeSpan.FromSeconds(10), options.PingInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), options.PingTimeout);
        Assert.True(options.Native);
        Assert.Equal("newt0", options.InterfaceName);
        Assert.Equal("/tmp/healthy", options.HealthFile);
        Assert.True(options.Metrics);
        Assert.Equal("0.0.0.0:9100", options.MetricsAddress);
        Assert.Equal("/usr/local/bin/updown", options.UpDownScript);
        Assert.True(options.EnforceHealthCheckCert);
        Assert.Equal(TimeSpan.FromMinutes(2), options.UdpProxyIdleTimeout);
    }

    [Fact]
    public void Every_setting_can_come_from_its_flag()
    {
        var options = Good([
            .. Required, "--mtu", "1420", "--dns", "2606:4700:4700::1111", "--log-level", "WARN", "--ping-interval", "1m",
            "--ping-timeout", "2s", "--native", "--interface", "wgnewt", "--health-file", "/run/newt.ok", "--metrics",
            "--metrics-address", "[::1]:2112", "--updown", "/bin/updown",
            "--enforce-hc-cert", "--udp-proxy-idle-timeout", "30s", "--prefer-endpoint", "203.0.113.7:51820"]);

        Assert.Equal(1420, options.Mtu);
        Assert.Equal("2606:4700:4700::1111", options.Dns);
        Assert.Equal(NewtLogLevel.Warn, options.LogLevel);
        Assert.Equal(TimeSpan.FromMinutes(1), options.PingInterval);
        Assert.Equal(TimeSpan.FromSeconds(2), options.PingTimeout);
        Assert.True(options.Native);
        Assert.Equal("wgnewt", options.InterfaceName);
        Assert.Equal("/run/newt.ok", options.HealthFile);
        Assert.True(options.Metrics);
        Assert.Equal("[::1]:2112", options.MetricsAddress);
        Assert.Equal("/bin/updown", options.UpDownScript);
        Assert.True(options.EnforceHealthCheckCert);
        Assert.Equal(TimeSpan.FromSeconds(30), options.UdpProxyIdleTimeout);
        Assert.Equal("203.0.113.7:51820", options.PreferEndpoint);
    }

    public static TheoryData<string[], string, string, string, object> Precedence => new()
    {
        { ["--id", "flag"], "NEWT_ID", "env", nameof(NewtOptions.Id), "flag" },
        { ["--mtu", "1400"], "MTU", "1500", nameof(NewtOptions.Mtu), 1400 },
        { ["--log-level", "error"], "LOG_LEVEL", "DEBUG", nameof(NewtOptions.LogLevel), "Error" },
        { ["--ping-interval", "4s"], "PING_INTERVAL", "9s", nameof(NewtOptions.PingInterval), TimeSpan.FromSeconds(4) },
        { ["--native=false"], "USE_NATIVE_INTERFACE", "true", nameof(NewtOptions.Native), false },
        { ["--native", "false"], "USE_NATIVE_INTERFACE", "true", nameof(NewtOptions.Native), false },
        { ["--native"], "USE_NATIVE_INTERFACE", "false", nameof(NewtOptions.Native), true },
        { ["--metrics-admin-addr", "127.0.0.1:1"], "NEWT_ADMIN_ADDR", "127.0.0.1:2", nameof(NewtOptions.MetricsAddress), "127.0.0.1:1" },
        { [], "MTU", "1300", nameof(NewtOptions.Mtu), 1300 },
        { [], "MTU", "", nameof(NewtOptions.Mtu), 1280 },
    };

    [Theory]
    [MemberData(nameof(Precedence))]
    public void A_flag_beats_its_environment_variable_which_beats_the_default(string[] flags, string variable, string value, string setting, object expected)
    {
        var environment = new Dictionary<string, string>
        {
            ["NEWT_ID"] = "env",
            ["NEWT_SECRET"] = "envsecret",
            ["PANGOLIN_ENDPOINT"] = "https://env.example.com",
            [variable] = value,
        };

        var options = Good(flags, environment);

        object actual = setting switch
        {
            nameof(NewtOptions.Id) => options.Id,
            nameof(NewtOptions.Mtu) => options.Mtu,
            nameof(NewtOptions.LogLevel) => options.LogLevel.ToString(),
            nameof(NewtOptions.PingInterval) => options.PingInterval,
            nameof(NewtOptions.Native) => options.Native,
            _ => options.MetricsAddress,
        };
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("300ms", 0, 0, 300)]
    [InlineData("1.5s", 0, 1, 500)]
    [InlineData("2m30s", 2, 30, 0)]
    [InlineData("1h", 60, 0, 0)]
    [InlineData("1h0m1.25s", 60, 1, 250)]
    [InlineData(".5s", 0, 0, 500)]
    [InlineData("1500us", 0, 0, 1.5)]
    [InlineData("2000000ns", 0, 0, 2)]
    public void Durations_use_Gos_syntax(string text, int minutes, int seconds, double milliseconds)
    {
        var options = Good([.. Required, "--udp-proxy-idle-timeout", text]);

        Assert.Equal(TimeSpan.FromMinutes(minutes) + TimeSpan.FromSeconds(seconds) + TimeSpan.FromMilliseconds(milliseconds), options.UdpProxyIdleTimeout);
    }

    [Theory]
    [InlineData("0", true, 0L)]
    [InlineData("-1.5h", true, -54_000_000_000L)]
    [InlineData("+2s", true, 20_000_000L)]
    [InlineData("1µs", true, 10L)]
    [InlineData("1μs", true, 10L)]
    [InlineData("1.s", true, 10_000_000L)]
    [InlineData("1ns", true, 0L)]
    [InlineData("", false, 0L)]
    [InlineData("5", false, 0L)]
    [InlineData("s", false, 0L)]
    [InlineData(".s", false, 0L)]
    [InlineData("-", false, 0L)]
    [InlineData("1d", false, 0L)]
    [InlineData("1 s", false, 0L)]
    [InlineData("1s5", false, 0L)]
    [InlineData("9223372036854775807s", false, 0L)]
    [InlineData("3000000h", false, 0L)]
    public void The_Go_duration_parser_takes_what_Go_takes(string text, bool valid, long ticks)
    {
        Assert.Equal(valid, GoDuration.TryParse(text, out var duration, out var error));
        Assert.Equal(TimeSpan.FromTicks(ticks), duration);
        Assert.Equal(valid, error.Length == 0);
    }

    [Theory]
    [InlineData("0s", 0)]
    [InlineData("300ms", 3_000_000)]
    [InlineData("1.5s", 15_000_000)]
    [InlineData("2m30s", 1_500_000_000)]
    [InlineData("1h0m0s", 36_000_000_000)]
    public void Durations_print_as_Go_prints_them(string expected, long ticks) =>
        Assert.Equal(expected, GoDuration.Format(TimeSpan.FromTicks(ticks)));

    public static TheoryData<string[], Dictionary<string, string>, string> BadSettings => new()
    {
        { [], new(), "newt: --id: required (or set NEWT_ID)" },
        { ["--id", "a"], new(), "newt: --secret: required (or set NEWT_SECRET)" },
        { ["--id", "a", "--secret", "b"], new(), "newt: --endpoint: required (or set PANGOLIN_ENDPOINT)" },
        { ["--id", "a", "--secret", "b", "--endpoint", "pangolin.example.com"], new(), "newt: --endpoint: \"pangolin.example.com\" is not an http:// or https:// URL" },
        { ["--id", "a", "--secret", "b"], new() { ["PANGOLIN_ENDPOINT"] = "ws://p" }, "newt: PANGOLIN_ENDPOINT: \"ws://p\" is not an http:// or https:// URL" },
        { [.. Required, "--mtu", "575"], new(), "newt: --mtu: \"575\" is not an MTU between 576 and 9000" },
        { [.. Required, "--mtu", "9001"], new(), "newt: --mtu: \"9001\" is not an MTU between 576 and 9000" },
        { [.. Required, "--mtu", "1280 "], new(), "newt: --mtu: \"1280 \" is not an MTU between 576 and 9000" },
        { [.. Required], new() { ["MTU"] = "big" }, "newt: MTU: \"big\" is not an MTU between 576 and 9000" },
        { [.. Required, "--dns", "quad9"], new(), "newt: --dns: \"quad9\" is not an IP address" },
        { [.. Required, "--log-level", "TRACE"], new(), "newt: --log-level: \"TRACE\" is not one of DEBUG, INFO, WARN, ERROR, FATAL" },
        { [.. Required, "--ping-interval", "5"], new(), "newt: --ping-interval: missing unit in duration \"5\"; use ns, us, ms, s, m or h" },
        { [.. Required], new() { ["PING_TIMEOUT"] = "5 sec" }, "newt: PING_TIMEOUT: unknown unit \" sec\" in duration \"5 sec\"; use ns, us, ms, s, m or h" },
        { [.. Required, "--udp-proxy-idle-timeout", "0s"], new(), "newt: --udp-proxy-idle-timeout: \"0s\" is not a positive duration" },
        { [.. Required, "--ping-timeout", "-1s"], new(), "newt: --ping-timeout: \"-1s\" is not a positive duration" },
        { [.. Required], new() { ["USE_NATIVE_INTERFACE"] = "yes" }, "newt: USE_NATIVE_INTERFACE: \"yes\" is not true or false" },
        { [.. Required, "--interface", "a-very-long-interface-name"], new(), "newt: --interface: \"a-very-long-interface-name\" is not an interface name (at most 15 ASCII characters, no '/', ':' or spaces)" },
        { [.. Required, "--metrics-address", "localhost"], new(), "newt: --metrics-address: \"localhost\" is not host:port" },
        { [.. Required, "--prefer-endpoint", "1.2.3.4:0"], new(), "newt: --prefer-endpoint: \"1.2.3.4:0\" is not host:port" },
        { [.. Required, "--bogus"], new(), "newt: --bogus: unknown flag (see --help)" },
        { [.. Required, "stray"], new(), "newt: stray: unexpected argument (see --help)" },
        { [.. Required, "--mtu"], new(), "newt: --mtu: needs a value" },
        { [.. Required, "--id", "again"], new(), "newt: --id: given more than once" },
        // A bad value is reported before a missing required setting: the typo is what the user needs to see.
        { ["--mtu", "1"], new(), "newt: --mtu: \"1\" is not an MTU between 576 and 9000" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void A_bad_setting_gives_exit_code_2_and_one_line_naming_the_flag_or_variable(string[] args, Dictionary<string, string> environment, string expected)
    {
        Assert.Equal(expected, Bad(args, environment));
    }

    [Fact]
    public void Gos_single_dash_spellings_work_and_a_value_is_never_taken_for_a_flag()
    {
        var options = Good(["-id", "a", "-secret=-mtu", "-endpoint", "https://p.example.com", "-mtu=1300", "-native"]);

        Assert.Equal("a", options.Id);
        Assert.Equal("-mtu", options.Secret);
        Assert.Equal(1300, options.Mtu);
        Assert.True(options.Native);
    }

    [Fact]
    public void Native_main_is_an_alias_of_native()
    {
        Assert.True(Good([.. Required, "--native-main"]).Native);
    }

    [Fact]
    public void Accept_clients_is_accepted_and_ignored_with_a_warning()
    {
        var result = CommandLine.Parse([.. Required, "--accept-clients"], NoEnvironment);

        Assert.Null(result.ExitCode);
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("--accept-clients", warning, StringComparison.Ordinal);
        Assert.Empty(CommandLine.Parse(Required, NoEnvironment).Warnings);
    }

    [Fact]
    public void Version_prints_newt_and_the_version_and_exits_0_without_the_required_settings()
    {
        var result = CommandLine.Parse(["--version"], NoEnvironment);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"newt {CommandLine.Version}\n", result.Output);
        Assert.Matches(@"^\d+\.\d+\.\d+", CommandLine.Version);
        Assert.DoesNotContain('+', CommandLine.Version);
    }

    [Fact]
    public void Help_lists_every_flag_with_its_environment_variable_and_says_flags_beat_the_environment()
    {
        var result = CommandLine.Parse(["--help"], NoEnvironment);

        Assert.Equal(0, result.ExitCode);
        foreach (var text in new[] { "--id", "NEWT_ID", "--secret", "NEWT_SECRET", "--endpoint", "PANGOLIN_ENDPOINT", "--mtu", "--dns", "--log-level", "LOG_LEVEL", "--ping-interval", "PING_INTERVAL", "--ping-timeout", "PING_TIMEOUT", "--native", "--native-main", "USE_NATIVE_INTERFACE", "--interface", "INTERFACE", "--health-file", "HEALTH_FILE", "--metrics", "NEWT_METRICS_PROMETHEUS_ENABLED", "--metrics-address", "NEWT_ADMIN_ADDR", "--updown", "UPDOWN_SCRIPT", "--tls-client-cert-file", "TLS_CLIENT_CERT", "--tls-client-key", "TLS_CLIENT_KEY", "--tls-client-ca", "TLS_CLIENT_CAS", "--tls-client-cert", "TLS_CLIENT_CERT_PKCS12", "SKIP_TLS_VERIFY", "--accept-clients", "--enforce-hc-cert", "--udp-proxy-idle-timeout", "--prefer-endpoint", "--version", "a flag beats the\n  environment" })
        {
            Assert.Contains(text, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Print_config_shows_the_merged_settings_but_never_the_secret()
    {
        var result = CommandLine.Parse([.. Required, "--print-config", "--ping-interval", "90s"], NoEnvironment);

        Assert.Equal(0, result.ExitCode);
        Assert.NotNull(result.Options);
        Assert.Contains("site1", result.Output, StringComparison.Ordinal);
        Assert.Contains("1m30s", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_writes_the_error_line_to_stderr_and_never_calls_run()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var ran = false;

        var code = await CommandLine.RunAsync(["--mtu", "x"], NoEnvironment, output, error, (_, _) =>
        {
            ran = true;
            return Task.FromResult(0);
        });

        Assert.Equal(2, code);
        Assert.False(ran);
        Assert.Equal("", output.ToString());
        Assert.Equal("newt: --mtu: \"x\" is not an MTU between 576 and 9000" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public async Task RunAsync_hands_good_settings_to_run_and_returns_its_exit_code()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        NewtOptions? seen = null;

        var code = await CommandLine.RunAsync(Required, NoEnvironment, output, error, (options, _) =>
        {
            seen = options;
            return Task.FromResult(7);
        });

        Assert.Equal(7, code);
        Assert.Equal("site1", seen?.Id);
        Assert.Equal("", error.ToString());
    }
}
