using System.Collections;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Pangolin.Protocol.Gerbil;
using Pangolin.Server.Sites;

namespace Pangolin.Server.Configuration;

public static partial class ConfigurationServices
{
    /// <summary>Binds every section to validated options; a bad value stops start-up with a message naming the key.</summary>
    public static IServiceCollection AddPangolinOptions(this IServiceCollection services)
    {
        Add<AppOptions>(services, AppOptions.Section);
        Add<ServerOptions>(services, ServerOptions.Section);
        Add<DatabaseOptions>(services, DatabaseOptions.Section);
        Add<EmailOptions>(services, EmailOptions.Section);
        Add<FlagsOptions>(services, FlagsOptions.Section);
        Add<RateLimitOptions>(services, RateLimitOptions.Section);
        Add<OrgOptions>(services, OrgOptions.Section);
        Add<GerbilOptions>(services, GerbilOptions.Section);
        Add<NewtOptions>(services, NewtOptions.Section);
        Add<AcmeOptions>(services, AcmeOptions.Section);
        services.AddSingleton<IValidateOptions<AcmeOptions>, AcmeValidator>();
        services.AddOptions<DomainsOptions>()
            .Configure<IConfiguration>((o, c) => c.GetSection(DomainsOptions.Section).Bind(o.Domains, b => b.ErrorOnUnknownConfiguration = true))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<DomainsOptions>, DomainsValidator>();
        services.AddSingleton<IValidateOptions<DatabaseOptions>, DatabaseValidator>();
        services.AddSingleton<IValidateOptions<ServerOptions>, ListenerValidator>();
        services.AddSingleton<IValidateOptions<FlagsOptions>, FlagsValidator>();
        services.AddSingleton<IValidateOptions<GerbilOptions>, GerbilValidator>();
        return services;
    }

    private static void Add<T>(IServiceCollection services, string section)
        where T : class
    {
        services.AddOptions<T>()
            .BindConfiguration(section, b => b.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(section));
    }

    /// <summary>Resolves every options type once, so that a bad value is reported before anything starts.</summary>
    public static void ValidateAll(IServiceProvider services)
    {
        _ = services.GetRequiredService<IOptions<AppOptions>>().Value;
        _ = services.GetRequiredService<IOptions<ServerOptions>>().Value;
        _ = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        _ = services.GetRequiredService<IOptions<EmailOptions>>().Value;
        _ = services.GetRequiredService<IOptions<FlagsOptions>>().Value;
        _ = services.GetRequiredService<IOptions<RateLimitOptions>>().Value;
        _ = services.GetRequiredService<IOptions<OrgOptions>>().Value;
        _ = services.GetRequiredService<IOptions<DomainsOptions>>().Value;
        _ = services.GetRequiredService<IOptions<Pangolin.Edge.EdgeOptions>>().Value;
    }

    /// <summary>Whether an exception is the configuration binder's (a value of the wrong type, an unknown key).</summary>
    public static bool IsBinderError(Exception e) =>
        e is InvalidOperationException && (ConversionRegex().IsMatch(e.Message) || UnknownKeyRegex().IsMatch(e.Message));

    /// <summary>The one line printed when the configuration is wrong.</summary>
    public static string Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e is OptionsValidationException v)
        {
            return "configuration error: " + string.Join("; ", v.Failures);
        }
        var conversion = ConversionRegex().Match(e.Message);
        if (conversion.Success)
        {
            var type = conversion.Groups["type"].Value;
            var expected = type.Contains("Int", StringComparison.Ordinal) ? "a whole number" : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false" : "a " + type;
            return $"configuration error: {conversion.Groups["key"].Value} must be {expected} (got '{conversion.Groups["value"].Value}')";
        }
        var unknown = UnknownKeyRegex().Match(e.Message);
        if (unknown.Success)
        {
            var section = typeof(ConfigurationServices).Assembly.GetType(unknown.Groups["type"].Value)?.GetField("Section")?.GetRawConstantValue() as string;
            var keys = unknown.Groups["keys"].Value.Split(", ").Select(k => $"{(section is null ? "" : section + ":")}{k.Trim('\'')}");
            return $"configuration error: unknown setting {string.Join(", ", keys)} (check the spelling; keys are listed in docs/configuration.md)";
        }
        return "configuration error: " + e.Message;
    }

    [System.Text.RegularExpressions.GeneratedRegex("Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?:System\\.)?(?<type>[^']*)'")]
    private static partial System.Text.RegularExpressions.Regex ConversionRegex();

    [System.Text.RegularExpressions.GeneratedRegex("not found on the instance of (?<type>[\\w.]+): (?<keys>.*)$")]
    private static partial System.Text.RegularExpressions.Regex UnknownKeyRegex();
}

/// <summary>Section "Domains": id → base domain offered to every org.</summary>
public sealed class DomainsOptions
{
    public const string Section = "Domains";

    public Dictionary<string, ConfigDomain> Domains { get; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>Runs DataAnnotations over an options object and its nested objects, naming each failing key in full.</summary>
internal sealed class SectionValidator<T>(string section) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var failures = new List<string>();
        OptionsValidation.Collect(section, options, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal static class OptionsValidation
{
    public static void Collect(string prefix, object options, List<string> failures)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        foreach (var result in results)
        {
            foreach (var member in result.MemberNames.DefaultIfEmpty(""))
            {
                var value = options.GetType().GetProperty(member)?.GetValue(options);
                failures.Add($"{prefix}:{member} {ValidationMessages.Normalize(result.ErrorMessage, member)} (got {Show(value)})");
            }
        }
        foreach (var property in options.GetType().GetProperties())
        {
            if (property.PropertyType.Namespace == typeof(AppOptions).Namespace && property.PropertyType.IsClass
                && property.GetIndexParameters().Length == 0 && property.GetValue(options) is { } nested)
            {
                Collect($"{prefix}:{property.Name}", nested, failures);
            }
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>()) + "]",
        _ => value.ToString() ?? "",
    };
}

internal sealed class DomainsValidator : IValidateOptions<DomainsOptions>
{
    public ValidateOptionsResult Validate(string? name, DomainsOptions options)
    {
        var failures = new List<string>();
        foreach (var (id, domain) in options.Domains)
        {
            if (!Syntax.IsNiceId(id))
            {
                failures.Add($"Domains:{id} the id must be letters, digits or hyphens");
            }
            OptionsValidation.Collect($"Domains:{id}", domain, failures);
        }
        var duplicate = options.Domains.Values.GroupBy(d => d.BaseDomain, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            failures.Add($"Domains base domain '{duplicate.Key}' is listed more than once");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

internal sealed class DatabaseValidator : IValidateOptions<DatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options) =>
        options.Provider == "postgres" && string.IsNullOrWhiteSpace(options.ConnectionString)
            ? ValidateOptionsResult.Fail("Database:ConnectionString is required when Database:Provider is 'postgres'")
            : ValidateOptionsResult.Success;
}

internal sealed class ListenerValidator : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        // The dashboard and integration APIs may share a port; the internal API may only share one on the same address.
        if (options.InternalPort == options.ExternalPort && options.InternalListenAddress != options.ListenAddress)
        {
            return ValidateOptionsResult.Fail("Server:InternalPort must differ from Server:ExternalPort while their listen addresses differ");
        }
        if (options.InternalPort == options.IntegrationPort && options.InternalListenAddress != options.ListenAddress)
        {
            return ValidateOptionsResult.Fail("Server:InternalPort must differ from Server:IntegrationPort while their listen addresses differ");
        }
        return ValidateOptionsResult.Success;
    }
}

internal sealed class FlagsValidator(IOptions<EmailOptions> email) : IValidateOptions<FlagsOptions>
{
    public ValidateOptionsResult Validate(string? name, FlagsOptions options) =>
        options.RequireEmailVerification && !email.Value.IsConfigured
            ? ValidateOptionsResult.Fail("Flags:RequireEmailVerification needs e-mail: set Email:SmtpHost and Email:NoReply")
            : ValidateOptionsResult.Success;
}

internal sealed class GerbilValidator : IValidateOptions<GerbilOptions>
{
    public ValidateOptionsResult Validate(string? name, GerbilOptions options)
    {
        // Secrets: the messages never show the value.
        if (options.ControlApiToken is { } token && token.Length < GerbilControl.MinControlApiTokenLength)
        {
            return ValidateOptionsResult.Fail(
                $"Gerbil:ControlApiToken must be at least {GerbilControl.MinControlApiTokenLength} characters, as gerbil's CONTROL_API_TOKEN (got {token.Length})");
        }
        if (options.ConfigSigningKey is { } key)
        {
            using var imported = GerbilConfigSigner.Import(key);
            if (imported is null)
            {
                return ValidateOptionsResult.Fail(
                    "Gerbil:ConfigSigningKey must be an Ed25519 private key: base64 of its 32-byte seed, or PEM (-----BEGIN PRIVATE KEY-----); `pangolin admin generate-gerbil-keys` makes one");
            }
        }
        if (!Syntax.TryParseCidr(options.SubnetGroup, out var group) || group.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return ValidateOptionsResult.Fail("Gerbil:SubnetGroup must be an IPv4 CIDR such as 100.89.137.0/20");
        }
        if (options.BlockSize < group.PrefixLength)
        {
            return ValidateOptionsResult.Fail($"Gerbil:BlockSize must be at least the prefix length of Gerbil:SubnetGroup ({group.PrefixLength})");
        }
        // The node's own block is the first one, so a node needs room for at least one more.
        return options.SiteBlockSize <= options.BlockSize
            ? ValidateOptionsResult.Fail("Gerbil:SiteBlockSize must be longer than Gerbil:BlockSize (a site's block sits inside its node's network)")
            : ValidateOptionsResult.Success;
    }
}
