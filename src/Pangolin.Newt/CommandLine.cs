using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using System.Net;
using Pangolin.Newt.Control;
using Pangolin.Shared;

namespace Pangolin.Newt;

/// <summary>What parsing the command line decided: run with <see cref="Options"/>, or exit with <see cref="ExitCode"/>.</summary>
/// <param name="ExitCode">Null to run; otherwise the process exit code (0 for --help, --version and --print-config, 2 for a bad setting).</param>
/// <param name="Options">The merged settings; also set for --print-config.</param>
/// <param name="Output">Text for stdout (help, version, the configuration summary).</param>
/// <param name="Error">One line for stderr when a setting is bad: <c>newt: &lt;flag&gt;: &lt;problem&gt;</c>.</param>
/// <param name="Warnings">Lines to log at start-up (flags accepted but ignored).</param>
internal sealed record CommandLineResult(int? ExitCode, NewtOptions? Options, string Output, string Error, IReadOnlyList<string> Warnings)
{
    public const int BadUsage = 2;

    public static CommandLineResult Exit(int code, string output = "", string error = "") => new(code, null, output, error, []);
}

/// <summary>
/// newt's flags and environment variables, named as upstream newt names them. Unlike upstream (which only registers
/// a flag when its environment variable is unset, so giving both is an error there), a flag beats its environment
/// variable, which beats the default. Go's single-dash spellings (<c>-id</c>) are accepted too.
/// </summary>
internal static class CommandLine
{
    /// <summary>The informational version without the source revision suffix.</summary>
    public static string Version { get; } = ReadVersion();

    /// <summary>Parses <paramref name="args"/> against <paramref name="environment"/> (the process's, or a test's).</summary>
    public static CommandLineResult Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var flags = new Flags();
        // No response files: "@name" is an ordinary value here (an id or a secret may start with one).
        var parse = flags.Root.Parse(GoStyleCommandLine.GoSpellings(flags.Root, args), new ParserConfiguration { ResponseFileTokenReplacer = null });

        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            return Fail(token, token.StartsWith('-') ? "unknown flag (see --help)" : "unexpected argument (see --help)");
        }
        foreach (var error in parse.Errors)
        {
            if (error.SymbolResult is System.CommandLine.Parsing.OptionResult option)
            {
                var problem = option.Tokens.Count == 0 ? "needs a value" : option.Tokens.Count > 1 ? "given more than once" : error.Message;
                return Fail(option.Option.Name, problem);
            }
            return Fail("newt", error.Message);
        }
        if (parse.GetResult(flags.Help) is not null)
        {
            using var help = new StringWriter(CultureInfo.InvariantCulture);
            parse.Invoke(new InvocationConfiguration { Output = help, Error = help });
            return CommandLineResult.Exit(0, help.ToString());
        }
        if (parse.GetValue(flags.Version))
        {
            return CommandLineResult.Exit(0, $"newt {Version}\n");
        }

        var read = new Reader(parse, environment);
        try
        {
            var options = Build(flags, read, out var warnings);
            return parse.GetValue(flags.PrintConfig)
                ? new CommandLineResult(0, options, options.Summary(), "", warnings)
                : new CommandLineResult(null, options, "", "", warnings);
        }
        catch (BadSettingException bad)
        {
            return Fail(bad.Setting, bad.Message);
        }
    }

    /// <summary>
    /// Parses, prints what the result says to print, and either returns its exit code or calls <paramref name="run"/>
    /// with the settings.
    /// </summary>
    public static async Task<int> RunAsync(
        IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, TextWriter output, TextWriter error,
        Func<NewtOptions, IReadOnlyList<string>, Task<int>> run)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(run);
        var result = Parse(args, environment);
        if (result.Output.Length > 0)
        {
            await output.WriteAsync(result.Output);
            await output.FlushAsync();
        }
        if (result.Error.Length > 0)
        {
            await error.WriteLineAsync(result.Error);
            await error.FlushAsync();
        }
        if (result.ExitCode is { } code)
        {
            return code;
        }
        return await run(result.Options!, result.Warnings);
    }

    public static Dictionary<string, string> ProcessEnvironment() => GoStyleCommandLine.ProcessEnvironment();

    private static NewtOptions Build(Flags f, Reader read, out List<string> warnings)
    {
        warnings = [];
        var mtu = NewtOptions.DefaultMtu;
        if (read.String(f.Mtu, "MTU") is { } mtuSetting)
        {
            if (!int.TryParse(mtuSetting.Value, NumberStyles.None, CultureInfo.InvariantCulture, out mtu)
                || mtu is < NewtOptions.MinMtu or > NewtOptions.MaxMtu)
            {
                throw new BadSettingException(mtuSetting.Source, $"\"{mtuSetting.Value}\" is not an MTU between {NewtOptions.MinMtu} and {NewtOptions.MaxMtu}");
            }
        }

        var dns = NewtOptions.DefaultDns;
        if (read.String(f.Dns, "DNS") is { } dnsSetting)
        {
            if (!IPAddress.TryParse(dnsSetting.Value, out _))
            {
                throw new BadSettingException(dnsSetting.Source, $"\"{dnsSetting.Value}\" is not an IP address");
            }
            dns = dnsSetting.Value;
        }

        var logLevel = NewtLogLevel.Info;
        if (read.String(f.LogLevel, "LOG_LEVEL") is { } levelSetting)
        {
            logLevel = levelSetting.Value.ToUpperInvariant() switch
            {
                "DEBUG" => NewtLogLevel.Debug,
                "INFO" => NewtLogLevel.Info,
                "WARN" => NewtLogLevel.Warn,
                "ERROR" => NewtLogLevel.Error,
                "FATAL" => NewtLogLevel.Fatal,
                _ => throw new BadSettingException(levelSetting.Source, $"\"{levelSetting.Value}\" is not one of DEBUG, INFO, WARN, ERROR, FATAL"),
            };
        }

        var pingInterval = read.Duration(f.PingInterval, "PING_INTERVAL") ?? NewtOptions.DefaultPingInterval;
        var pingTimeout = read.Duration(f.PingTimeout, "PING_TIMEOUT") ?? NewtOptions.DefaultPingTimeout;
        var native = read.Switch(f.Native, "USE_NATIVE_INTERFACE") ?? false;

        var interfaceName = NewtOptions.DefaultInterfaceName;
        if (read.String(f.Interface, "INTERFACE") is { } interfaceSetting)
        {
            // Linux's IFNAMSIZ is 16 with the terminating zero; '/' and whitespace are refused by the kernel.
            if (interfaceSetting.Value.Length > 15 || interfaceSetting.Value.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c) || !char.IsAscii(c)))
            {
                throw new BadSettingException(interfaceSetting.Source, $"\"{interfaceSetting.Value}\" is not an interface name (at most 15 ASCII characters, no '/', ':' or spaces)");
            }
            interfaceName = interfaceSetting.Value;
        }

        var healthFile = read.String(f.HealthFile, "HEALTH_FILE")?.Value;
        var metrics = read.Switch(f.Metrics, "NEWT_METRICS_PROMETHEUS_ENABLED") ?? false;
        var metricsAddress = NewtOptions.DefaultMetricsAddress;
        if (read.String(f.MetricsAddress, "NEWT_ADMIN_ADDR") is { } addressSetting)
        {
            if (!HostPort.TryParse(addressSetting.Value, out _, out _, allowEmptyHost: true))
            {
                throw new BadSettingException(addressSetting.Source, $"\"{addressSetting.Value}\" is not host:port");
            }
            metricsAddress = addressSetting.Value;
        }

        var upDown = read.String(f.UpDown, "UPDOWN_SCRIPT")?.Value;
        var serverTls = ReadServerTls(f, read);
        if (read.Switch(f.AcceptClients, "ACCEPT_CLIENTS") == true)
        {
            warnings.Add("--accept-clients is accepted and ignored: this newt does not serve client (Olm) tunnels");
        }
        var enforceHealthCheckCert = read.Switch(f.EnforceHealthCheckCert, "ENFORCE_HC_CERT") ?? false;
        var udpIdle = read.Duration(f.UdpProxyIdleTimeout, "NEWT_UDP_PROXY_IDLE_TIMEOUT") ?? NewtOptions.DefaultUdpProxyIdleTimeout;

        string? preferEndpoint = null;
        if (read.String(f.PreferEndpoint, null) is { } preferSetting)
        {
            if (!HostPort.TryParse(preferSetting.Value, out _, out _))
            {
                throw new BadSettingException(preferSetting.Source, $"\"{preferSetting.Value}\" is not host:port");
            }
            preferEndpoint = preferSetting.Value;
        }

        // The three a newt cannot start without, checked last so a typo elsewhere is reported first.
        var id = read.String(f.Id, "NEWT_ID")?.Value ?? throw Missing(f.Id, "NEWT_ID");
        var secret = read.String(f.Secret, "NEWT_SECRET")?.Value ?? throw Missing(f.Secret, "NEWT_SECRET");
        var endpointSetting = read.String(f.Endpoint, "PANGOLIN_ENDPOINT") ?? throw Missing(f.Endpoint, "PANGOLIN_ENDPOINT");
        if (!Uri.TryCreate(endpointSetting.Value, UriKind.Absolute, out var endpoint)
            || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps) || endpoint.Host.Length == 0)
        {
            throw new BadSettingException(endpointSetting.Source, $"\"{endpointSetting.Value}\" is not an http:// or https:// URL");
        }

        return new NewtOptions
        {
            Id = id,
            Secret = secret,
            Endpoint = endpoint,
            Mtu = mtu,
            Dns = dns,
            LogLevel = logLevel,
            PingInterval = pingInterval,
            PingTimeout = pingTimeout,
            Native = native,
            InterfaceName = interfaceName,
            HealthFile = healthFile,
            Metrics = metrics,
            MetricsAddress = metricsAddress,
            UpDownScript = upDown,
            ServerTls = serverTls,
            EnforceHealthCheckCert = enforceHealthCheckCert,
            UdpProxyIdleTimeout = udpIdle,
            PreferEndpoint = preferEndpoint,
        };
    }

    /// <summary>Upstream's mTLS settings and SKIP_TLS_VERIFY, with the files loaded (a bad one is a bad setting).</summary>
    private static ServerTls ReadServerTls(Flags f, Reader read)
    {
        var certificate = read.String(f.TlsClientCertFile, "TLS_CLIENT_CERT");
        var key = read.String(f.TlsClientKey, "TLS_CLIENT_KEY");
        var caFiles = read.List(f.TlsClientCa, "TLS_CLIENT_CAS");
        var pkcs12 = read.String(f.TlsClientCert, "TLS_CLIENT_CERT_PKCS12");
        // TLS_CLIENT_CERT once named the PKCS#12 file; alone (no key, no CA), it still does, as upstream.
        if (certificate is { Source: "TLS_CLIENT_CERT" } legacy && key is null && caFiles.Count == 0)
        {
            pkcs12 ??= legacy;
            certificate = null;
        }
        try
        {
            return ServerTls.Load(File(certificate), File(key), File(pkcs12), [.. caFiles.Select(ca => new TlsFile(ca.Value, ca.Source))],
                read.EnvironmentSwitch("SKIP_TLS_VERIFY") ?? false);
        }
        catch (TlsFileException bad)
        {
            throw new BadSettingException(bad.Setting, bad.Message);
        }

        static TlsFile? File(Setting? setting) => setting is { } s ? new TlsFile(s.Value, s.Source) : null;
    }

    private static BadSettingException Missing(Option option, string environmentVariable) =>
        new(option.Name, $"required (or set {environmentVariable})");

    private static CommandLineResult Fail(string source, string problem) =>
        CommandLineResult.Exit(CommandLineResult.BadUsage, error: $"newt: {source}: {OneLine(problem)}");

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static string ReadVersion() => GoStyleCommandLine.Version(typeof(CommandLine).Assembly);

    /// <summary>A value and where it came from (the flag's name or the environment variable's), for error messages.</summary>
    private readonly record struct Setting(string Value, string Source);

    private sealed class BadSettingException(string source, string message) : Exception(message)
    {
        public string Setting { get; } = source;
    }

    /// <summary>Flag, then environment variable (empty counts as unset, as upstream), then nothing.</summary>
    private sealed class Reader(ParseResult parse, IReadOnlyDictionary<string, string> environment)
    {
        public Setting? String(Option<string> option, string? environmentVariable)
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                return new Setting(parse.GetValue(option) ?? "", option.Name);
            }
            if (environmentVariable is not null && environment.TryGetValue(environmentVariable, out var value) && value.Length > 0)
            {
                return new Setting(value, environmentVariable);
            }
            return null;
        }

        /// <summary>A repeatable flag's values, else the variable's comma-separated list; the flags replace the list.</summary>
        public List<Setting> List(Option<string[]> option, string environmentVariable)
        {
            if (parse.GetResult(option) is { Implicit: false })
            {
                return [.. (parse.GetValue(option) ?? []).Select(v => new Setting(v, option.Name))];
            }
            return environment.TryGetValue(environmentVariable, out var value)
                ? [.. value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(v => new Setting(v, environmentVariable))]
                : [];
        }

        public bool? Switch(Option<bool> option, string environmentVariable) =>
            parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : EnvironmentSwitch(environmentVariable);

        public bool? EnvironmentSwitch(string environmentVariable)
        {
            if (!environment.TryGetValue(environmentVariable, out var value) || value.Length == 0)
            {
                return null;
            }
            // Go's strconv.ParseBool.
            return value switch
            {
                "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
                "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
                _ => throw new BadSettingException(environmentVariable, $"\"{value}\" is not true or false"),
            };
        }

        public TimeSpan? Duration(Option<string> option, string environmentVariable)
        {
            if (String(option, environmentVariable) is not { } setting)
            {
                return null;
            }
            if (!GoDuration.TryParse(setting.Value, out var duration, out var error))
            {
                throw new BadSettingException(setting.Source, error);
            }
            if (duration <= TimeSpan.Zero)
            {
                throw new BadSettingException(setting.Source, $"\"{setting.Value}\" is not a positive duration");
            }
            return duration;
        }
    }

    /// <summary>The flags, with upstream's names; each description names its environment variable.</summary>
    private sealed class Flags
    {
        public Flags()
        {
            Root = new RootCommand(
                "newt: connects a Pangolin site to its server through a WireGuard tunnel and relays the site's targets.\n" +
                "Each setting comes from its flag, else its environment variable, else the default: a flag beats the\n" +
                "environment (upstream newt refuses a flag whose variable is set). Durations use Go's syntax (300ms,\n" +
                "1.5s, 2m30s, 1h). SKIP_TLS_VERIFY=true (environment only) accepts any certificate from the server.")
            {
                Id, Secret, Endpoint, Mtu, Dns, LogLevel, PingInterval, PingTimeout, Native, Interface, HealthFile,
                Metrics, MetricsAddress, UpDown, TlsClientCertFile, TlsClientKey, TlsClientCa, TlsClientCert, AcceptClients, EnforceHealthCheckCert,
                UdpProxyIdleTimeout, PreferEndpoint, PrintConfig, Version,
            };
            // Ours prints "newt <version>"; System.CommandLine's would print the bare informational version.
            foreach (var builtIn in Root.Options.OfType<VersionOption>().ToList())
            {
                Root.Options.Remove(builtIn);
            }
            Help = Root.Options.OfType<HelpOption>().Single();
        }

        public RootCommand Root { get; }

        public HelpOption Help { get; }

        public Option<string> Id { get; } = Value("id", "<id>", "The site's newt id (env NEWT_ID). Required.");

        public Option<string> Secret { get; } = Value("secret", "<secret>", "The site's secret (env NEWT_SECRET). Required; never logged.");

        public Option<string> Endpoint { get; } = Value("endpoint", "<url>", "The Pangolin server, http:// or https:// (env PANGOLIN_ENDPOINT). Required.");

        public Option<string> Mtu { get; } = Value("mtu", "<bytes>", "Tunnel MTU, 576-9000 (env MTU) [default: 1280]");

        public Option<string> Dns { get; } = Value("dns", "<ip>", "DNS server for names inside the tunnel (env DNS) [default: 9.9.9.9]");

        public Option<string> LogLevel { get; } = Value("log-level", "<level>", "DEBUG, INFO, WARN, ERROR or FATAL (env LOG_LEVEL) [default: INFO]");

        public Option<string> PingInterval { get; } = Value("ping-interval", "<duration>", "Tunnel liveness ping interval (env PING_INTERVAL) [default: 3s]");

        public Option<string> PingTimeout { get; } = Value("ping-timeout", "<duration>", "Tunnel liveness ping timeout (env PING_TIMEOUT) [default: 5s]");

        public Option<bool> Native { get; } = Switch(["native", "native-main"], "Use a kernel TUN device for the tunnel; needs root or CAP_NET_ADMIN (env USE_NATIVE_INTERFACE)");

        public Option<string> Interface { get; } = Value("interface", "<name>", "TUN device name with --native (env INTERFACE) [default: newt]");

        public Option<string> HealthFile { get; } = Value("health-file", "<path>", "File holding \"ok\" while the tunnel is up (env HEALTH_FILE)");

        public Option<bool> Metrics { get; } = Switch(["metrics"], "Serve Prometheus metrics (env NEWT_METRICS_PROMETHEUS_ENABLED)");

        public Option<string> MetricsAddress { get; } = Value(["metrics-address", "metrics-admin-addr"], "<host:port>", "Metrics listener (env NEWT_ADMIN_ADDR) [default: 127.0.0.1:2112]");

        public Option<string> UpDown { get; } = Value("updown", "<script>", "Run \"script add|remove tcp|udp host:port\" per target; its output replaces the target (env UPDOWN_SCRIPT)");

        public Option<string> TlsClientCertFile { get; } = Value("tls-client-cert-file", "<path>", "PEM client certificate to present to the server (mTLS); needs --tls-client-key (env TLS_CLIENT_CERT)");

        public Option<string> TlsClientKey { get; } = Value("tls-client-key", "<path>", "PEM private key of --tls-client-cert-file (env TLS_CLIENT_KEY)");

        public Option<string[]> TlsClientCa { get; } = new("--tls-client-ca")
        {
            Description = "CA certificate (PEM or DER) to trust for the server instead of the system's; repeatable (env TLS_CLIENT_CAS, comma-separated)",
            HelpName = "path",
        };

        public Option<string> TlsClientCert { get; } = Value("tls-client-cert", "<path>", "PKCS#12 client certificate and key, no password; goes alone (env TLS_CLIENT_CERT_PKCS12)");

        public Option<bool> AcceptClients { get; } = Switch(["accept-clients"], "Accepted for compatibility and ignored: client tunnels are not supported");

        public Option<bool> EnforceHealthCheckCert { get; } = Switch(["enforce-hc-cert"], "Verify health-check targets' TLS certificates (env ENFORCE_HC_CERT)");

        public Option<string> UdpProxyIdleTimeout { get; } = Value("udp-proxy-idle-timeout", "<duration>", "Close a UDP relay session after this long without traffic (env NEWT_UDP_PROXY_IDLE_TIMEOUT) [default: 90s]");

        public Option<string> PreferEndpoint { get; } = Value("prefer-endpoint", "<host:port>", "Exit node endpoint to use instead of the one the server sends");

        public Option<bool> PrintConfig { get; } = Switch(["print-config"], "Print the merged settings (without the secret) and exit");

        public Option<bool> Version { get; } = Switch(["version"], "Print \"newt <version>\" and exit");


        private static Option<string> Value(string name, string helpName, string description) => Value([name], helpName, description);

        private static Option<string> Value(string[] names, string helpName, string description) =>
            new("--" + names[0], [.. names.Skip(1).Select(n => "--" + n)]) { Description = description, HelpName = helpName.Trim('<', '>') };

        private static Option<bool> Switch(string[] names, string description) =>
            new("--" + names[0], [.. names.Skip(1).Select(n => "--" + n)]) { Description = description };
    }
}
