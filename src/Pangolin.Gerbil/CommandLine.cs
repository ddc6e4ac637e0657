using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;
using Pangolin.Protocol.Gerbil;
using Pangolin.Shared;

namespace Pangolin.Gerbil;

/// <summary>What parsing decided: run with <see cref="Options"/>, or exit with <see cref="ExitCode"/>.</summary>
/// <param name="ExitCode">Null to run; otherwise the exit code (0 for --help and --version, 2 for a bad setting).</param>
/// <param name="Options">The merged settings when running.</param>
/// <param name="Output">Text for stdout (help, version).</param>
/// <param name="Error">One line for stderr when a setting is bad: <c>gerbil: &lt;flag&gt;: &lt;problem&gt;</c>.</param>
internal sealed record CommandLineResult(int? ExitCode, GerbilOptions? Options, string Output, string Error)
{
    public const int BadUsage = 2;

    public static CommandLineResult Exit(int code, string output = "", string error = "") => new(code, null, output, error);
}

/// <summary>
/// gerbil's two ways to run. Without a remote config it is what it always was: a TUN-backed WireGuard interface
/// that `ip` and `wg` configure (<c>gerbil --interface wg0 --foreground</c>), reading flags only. With
/// <c>--remote-config</c> or REMOTE_CONFIG it is a managed exit node and also reads upstream gerbil's environment
/// variables (INTERFACE, REMOTE_CONFIG, REACHABLE_AT, MTU, GENERATE_AND_SAVE_KEY_TO, LOG_LEVEL,
/// REMOTE_CONFIG_SIGNING_KEY, and CONTROL_API_TOKEN, which like upstream has no flag); a flag beats its
/// variable. Upstream's camelCase flag names (<c>--remoteConfig</c>, <c>-reachableAt</c>, …) are accepted too, so
/// an upstream compose file's command line works unchanged.
/// </summary>
internal static class CommandLine
{
    private const int MinManagedMtu = 576;
    private const int MaxManagedMtu = 9000;

    public static string Version { get; } = ReadVersion();

    public static CommandLineResult Parse(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var flags = new Flags();
        var parse = flags.Root.Parse(GoStyleCommandLine.GoSpellings(flags.Root, args), new ParserConfiguration { ResponseFileTokenReplacer = null });
        // An unknown flag lands in the interface argument rather than among the unmatched tokens.
        if (parse.GetValue(flags.InterfaceArgument) is { } positional && positional.StartsWith('-'))
        {
            return Fail(positional, "unknown flag (see --help)");
        }
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
            return Fail("gerbil", error.Message);
        }
        if (parse.GetResult(flags.Help) is not null)
        {
            using var help = new StringWriter(CultureInfo.InvariantCulture);
            parse.Invoke(new InvocationConfiguration { Output = help, Error = help });
            return CommandLineResult.Exit(0, help.ToString());
        }
        if (parse.GetValue(flags.Version))
        {
            return CommandLineResult.Exit(0, $"gerbil {Version}\n");
        }
        try
        {
            var read = new Reader(parse, environment);
            var options = read.String(flags.RemoteConfig, "REMOTE_CONFIG") is { } remote
                ? Managed(flags, read, remote)
                : InterfaceOnly(flags, read);
            return new CommandLineResult(null, options, "", "");
        }
        catch (BadSettingException bad)
        {
            return Fail(bad.Setting, bad.Message);
        }
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, TextWriter output, TextWriter error,
        Func<GerbilOptions, Task<int>> run)
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
        return result.ExitCode ?? await run(result.Options!);
    }

    public static Dictionary<string, string> ProcessEnvironment() => GoStyleCommandLine.ProcessEnvironment();

    /// <summary>Today's mode: flags only, the interface named, nothing that belongs to a managed node.</summary>
    private static GerbilOptions InterfaceOnly(Flags f, Reader read)
    {
        foreach (var managedOnly in new Option[] { f.ReachableAt, f.KeyFile, f.Mode, f.Endpoint, f.ListenPort, f.LogLevel, f.SigningKey })
        {
            if (read.Given(managedOnly))
            {
                throw new BadSettingException(managedOnly.Name, "only with --remote-config (or REMOTE_CONFIG)");
            }
        }
        var setting = read.String(f.Interface, null) ?? read.Positional(f.InterfaceArgument)
            ?? throw new BadSettingException("gerbil", "name the interface: gerbil --interface wg0 --foreground (or run a managed exit node with --remote-config)");
        var mtu = read.Int(f.Mtu, null, 68, 65535) ?? GerbilOptions.DefaultInterfaceMtu;
        return new GerbilOptions
        {
            InterfaceName = InterfaceName(setting),
            Mtu = mtu,
            MinimumLogLevel = read.Switch(f.Verbose) ? LogLevel.Debug : LogLevel.Information,
            Mode = ExitNodeMode.Tun,
        };
    }

    private static GerbilOptions Managed(Flags f, Reader read, Setting remote)
    {
        if (!ControlEndpoints.TryParse(remote.Value, out var control))
        {
            throw new BadSettingException(remote.Source, $"\"{remote.Value}\" is not an http:// or https:// URL (the server's internal API, e.g. http://pangolin:3001/api/v1)");
        }
        var interfaceName = read.String(f.Interface, "INTERFACE") ?? read.Positional(f.InterfaceArgument);
        var mtu = read.Int(f.Mtu, "MTU", MinManagedMtu, MaxManagedMtu) ?? GerbilOptions.DefaultManagedMtu;

        var logLevel = read.Switch(f.Verbose) ? LogLevel.Debug : LogLevel.Information;
        if (read.String(f.LogLevel, "LOG_LEVEL") is { } level)
        {
            logLevel = level.Value.ToUpperInvariant() switch
            {
                "DEBUG" => LogLevel.Debug,
                "INFO" => LogLevel.Information,
                "WARN" => LogLevel.Warning,
                "ERROR" => LogLevel.Error,
                "FATAL" => LogLevel.Critical,
                _ => throw new BadSettingException(level.Source, $"\"{level.Value}\" is not one of DEBUG, INFO, WARN, ERROR, FATAL"),
            };
        }

        Uri? reachableAt = null;
        var apiListen = new IPEndPoint(IPAddress.IPv6Any, GerbilOptions.DefaultApiPort);
        if (read.String(f.ReachableAt, "REACHABLE_AT") is { } reachable)
        {
            if (!Uri.TryCreate(reachable.Value, UriKind.Absolute, out reachableAt)
                || (reachableAt.Scheme != Uri.UriSchemeHttp && reachableAt.Scheme != Uri.UriSchemeHttps) || reachableAt.Host.Length == 0)
            {
                throw new BadSettingException(reachable.Source, $"\"{reachable.Value}\" is not an http:// or https:// URL (this gerbil's peer API as the server reaches it)");
            }
            // An address is listened on as given; a host name (a compose service, say) on every address, as upstream
            // does. The port is the URL's, so that the server's calls arrive.
            var address = IPAddress.TryParse(reachableAt.IdnHost, out var literal) ? literal : IPAddress.IPv6Any;
            apiListen = new IPEndPoint(address, reachableAt.Port);
        }

        var mode = Environment.IsPrivilegedProcess ? ExitNodeMode.Tun : ExitNodeMode.Userspace;
        if (read.String(f.Mode, null) is { } modeSetting)
        {
            mode = modeSetting.Value.ToLowerInvariant() switch
            {
                "tun" => ExitNodeMode.Tun,
                "userspace" => ExitNodeMode.Userspace,
                _ => throw new BadSettingException(modeSetting.Source, $"\"{modeSetting.Value}\" is not tun or userspace"),
            };
        }

        string? endpoint = null;
        if (read.String(f.Endpoint, null) is { } endpointSetting)
        {
            var value = endpointSetting.Value.Trim();
            if (value.Length == 0 || value.Contains("://", StringComparison.Ordinal) || value.Any(char.IsWhiteSpace))
            {
                throw new BadSettingException(endpointSetting.Source, $"\"{endpointSetting.Value}\" is not a host name or address (the host sites dial, without a scheme)");
            }
            endpoint = value;
        }

        string? token = null;
        if (read.String(null, "CONTROL_API_TOKEN") is { } tokenSetting)
        {
            if (tokenSetting.Value.Length < GerbilControl.MinControlApiTokenLength)
            {
                throw new BadSettingException(tokenSetting.Source, $"must be at least {GerbilControl.MinControlApiTokenLength} characters, not {tokenSetting.Value.Length}");
            }
            token = tokenSetting.Value;
        }

        return new GerbilOptions
        {
            InterfaceName = interfaceName is { } named ? InterfaceName(named) : "wg0",
            Mtu = mtu,
            MinimumLogLevel = logLevel,
            RemoteConfig = control,
            ReachableAt = reachableAt,
            ApiListen = apiListen,
            KeyFile = read.String(f.KeyFile, "GENERATE_AND_SAVE_KEY_TO")?.Value,
            Mode = mode,
            Endpoint = endpoint,
            ListenPort = read.Int(f.ListenPort, null, 1, 65535) ?? GerbilOptions.DefaultListenPort,
            ControlApiToken = token,
            ConfigSigningKey = read.String(f.SigningKey, "REMOTE_CONFIG_SIGNING_KEY") is { } key ? SigningKey(key) : null,
        };
    }

    /// <summary>Upstream's format: standard base64 of the 32-byte Ed25519 public key.</summary>
    private static PublicKey SigningKey(Setting setting)
    {
        Span<byte> raw = stackalloc byte[64];
        if (!Convert.TryFromBase64String(setting.Value.Trim(), raw, out var length) || length != 32
            || !PublicKey.TryImport(SignatureAlgorithm.Ed25519, raw[..length], KeyBlobFormat.RawPublicKey, out var key))
        {
            throw new BadSettingException(setting.Source, "is not an Ed25519 public key (base64 of 32 bytes, as `pangolin admin generate-gerbil-keys` prints it)");
        }
        return key!;
    }

    /// <summary>The kernel's rule (dev_valid_name), kept to printable ASCII as <c>LinuxTun</c> does.</summary>
    private static string InterfaceName(Setting setting)
    {
        var name = setting.Value;
        if (name.Length is 0 or > 15 || name is "." or ".." || name.Any(c => c <= ' ' || c > '~' || c == '/' || c == ':'))
        {
            throw new BadSettingException(setting.Source, $"\"{name}\" is not a valid interface name (printable ASCII, no '/' or ':', at most 15 characters)");
        }
        return name;
    }

    private static CommandLineResult Fail(string source, string problem) =>
        CommandLineResult.Exit(CommandLineResult.BadUsage,
            error: source == "gerbil" ? $"gerbil: {OneLine(problem)}" : $"gerbil: {source}: {OneLine(problem)}");

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static string ReadVersion() => GoStyleCommandLine.Version(typeof(CommandLine).Assembly);

    /// <summary>A value and where it came from (a flag's name, an environment variable, the argument), for messages.</summary>
    private readonly record struct Setting(string Value, string Source);

    private sealed class BadSettingException(string setting, string message) : Exception(message)
    {
        public string Setting { get; } = setting;
    }

    /// <summary>Flag, then environment variable (empty counts as unset, as upstream's os.Getenv check), then nothing.</summary>
    private sealed class Reader(ParseResult parse, IReadOnlyDictionary<string, string> environment)
    {
        public bool Given(Option option) => parse.GetResult(option) is { Implicit: false };

        public Setting? String(Option<string>? option, string? environmentVariable)
        {
            if (option is not null && Given(option))
            {
                return new Setting(parse.GetValue(option) ?? "", option.Name);
            }
            if (environmentVariable is not null && environment.TryGetValue(environmentVariable, out var value) && value.Length > 0)
            {
                return new Setting(value, environmentVariable);
            }
            return null;
        }

        public Setting? Positional(Argument<string?> argument) =>
            parse.GetValue(argument) is { } value ? new Setting(value, "interface") : null;

        public bool Switch(Option<bool> option) => parse.GetValue(option);

        public int? Int(Option<string> option, string? environmentVariable, int min, int max)
        {
            if (String(option, environmentVariable) is not { } setting)
            {
                return null;
            }
            if (!int.TryParse(setting.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                throw new BadSettingException(setting.Source, $"must be between {min} and {max}, not \"{setting.Value}\"");
            }
            return value;
        }
    }

    private sealed class Flags
    {
        public Flags()
        {
            Root = new RootCommand(
                "gerbil: the Pangolin exit node.\n" +
                "Without --remote-config: a TUN-backed WireGuard interface (userspace WireGuard) that ip and wg configure\n" +
                "through its UAPI socket, as wireguard-go -f does: gerbil --interface wg0 --foreground.\n" +
                "With --remote-config (or REMOTE_CONFIG): an exit node managed by a Pangolin server. It registers and\n" +
                "fetches its peers (get-config, retried every 5 s), serves POST/DELETE /peer and GET /healthz on\n" +
                "--reachable-at, and reports per-peer traffic every 10 s. Each setting then comes from its flag, else\n" +
                "its environment variable, else the default. CONTROL_API_TOKEN (environment only, at least 32\n" +
                "characters) makes POST/DELETE /peer require \"Authorization: Bearer <token>\".")
            {
                Interface, InterfaceArgument, Foreground, Mtu, Verbose, LogLevel, RemoteConfig, ReachableAt, KeyFile, Mode,
                Endpoint, ListenPort, SigningKey, Version,
            };
            foreach (var builtIn in Root.Options.OfType<VersionOption>().ToList())
            {
                Root.Options.Remove(builtIn);
            }
            Help = Root.Options.OfType<HelpOption>().Single();
        }

        public RootCommand Root { get; }

        public HelpOption Help { get; }

        public Option<string> Interface { get; } = Value(["interface"], "name",
            "Interface name, at most 15 characters (env INTERFACE with a remote config) [default with a remote config: wg0]", "-i");

        public Argument<string?> InterfaceArgument { get; } = new("interface") { Description = "Interface name, as wireguard-go takes it", Arity = ArgumentArity.ZeroOrOne };

        public Option<bool> Foreground { get; } = new("--foreground", "-f") { Description = "Stay in the foreground (the only mode: run it under systemd or a supervisor)" };

        public Option<string> Mtu { get; } = Value(["mtu"], "bytes",
            "Interface MTU: 68-65535 [default: 1420]; with a remote config 576-9000 (env MTU) [default: 1280]");

        public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Log at debug level (handshakes, errors)" };

        public Option<string> LogLevel { get; } = Value(["log-level"], "level", "DEBUG, INFO, WARN, ERROR or FATAL (env LOG_LEVEL) [default: INFO]");

        public Option<string> RemoteConfig { get; } = Value(["remote-config", "remoteConfig"], "url",
            "The Pangolin server's internal API, e.g. http://pangolin:3001/api/v1; a trailing /gerbil/get-config is dropped (env REMOTE_CONFIG)");

        public Option<string> ReachableAt { get; } = Value(["reachable-at", "reachableAt"], "url",
            "This gerbil's peer API as the server calls it, e.g. http://10.0.0.2:3004; gerbil listens on its address and port (env REACHABLE_AT) [default: listen on :3003, none sent]");

        public Option<string> KeyFile { get; } = Value(["generate-and-save-key-to", "generateAndSaveKeyTo"], "path",
            "Read the WireGuard private key from this file, or create it (mode 0600); a file others can read is refused (env GENERATE_AND_SAVE_KEY_TO) [default: a new key each run]");

        public Option<string> Mode { get; } = Value(["mode"], "tun|userspace",
            "tun: a kernel TUN interface (root); userspace: WireGuard and the node address inside the process [default: tun as root, else userspace]");

        public Option<string> Endpoint { get; } = Value(["endpoint"], "host", "The host sites dial, sent to the server with get-config");

        public Option<string> ListenPort { get; } = Value(["listen-port"], "port", "The UDP port sent to the server with get-config; the node listens on the port it answers with [default: 51820]");

        public Option<string> SigningKey { get; } = Value(["remote-config-signing-key"], "base64",
            "The server's Ed25519 public key (base64 of 32 bytes): a get-config answer must carry its signature in X-Gerbil-Config-Signature, else it is refused and retried (env REMOTE_CONFIG_SIGNING_KEY) [default: none, unsigned answers are taken]");

        public Option<bool> Version { get; } = new("--version") { Description = "Print \"gerbil <version>\" and exit" };


        private static Option<string> Value(string[] names, string helpName, string description, params string[] shortAliases) =>
            new("--" + names[0], [.. names.Skip(1).Select(n => "--" + n), .. shortAliases]) { Description = description, HelpName = helpName };
    }
}
