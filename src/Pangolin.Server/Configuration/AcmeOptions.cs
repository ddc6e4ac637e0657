using System.ComponentModel.DataAnnotations;
using System.Net.Mail;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Pangolin.Server.Configuration;

/// <summary>Section "Acme": certificates for SSL resources from an ACME CA (RFC 8555), issued and renewed by the server.</summary>
public sealed class AcmeOptions
{
    public const string Section = "Acme";

    /// <summary>Off by default: a server without a public name would only collect failures.</summary>
    public bool Enabled { get; set; }

    /// <summary>The CA's directory; Let's Encrypt's production directory unless set.</summary>
    [Required]
    public string DirectoryUrl { get; set; } = "https://acme-v02.api.letsencrypt.org/directory";

    /// <summary>Where the CA may write about the account's certificates (expiry, revocation); optional.</summary>
    public string? Email { get; set; }

    /// <summary>The operator agrees to the CA's terms of service; required when <see cref="Enabled"/>.</summary>
    public bool AcceptTermsOfService { get; set; }

    /// <summary>A PEM file of extra roots to trust for the directory's own HTTPS (a private CA, or pebble's test CA).</summary>
    public string? DirectoryTrustedRootsFile { get; set; }

    /// <summary>
    /// A program for dns-01 (wildcard certificates): called as <c>hook present|cleanup &lt;fqdn&gt; &lt;value&gt;</c>, as lego's
    /// exec provider. Without it, wildcard names fail with a message saying so.
    /// </summary>
    public string? Dns01Hook { get; set; }

    /// <summary>How long one call of the hook may take, publishing and waiting for the record to propagate.</summary>
    [Range(1, 3600)]
    public int Dns01HookTimeoutSeconds { get; set; } = 300;

    /// <summary>How often certificates are checked for renewal, besides every change to resources.</summary>
    [Range(1, 1440)]
    public int CheckIntervalMinutes { get; set; } = 60;
}

internal sealed class AcmeValidator : IValidateOptions<AcmeOptions>
{
    public ValidateOptionsResult Validate(string? name, AcmeOptions options)
    {
        var failures = new List<string>();
        if (!Uri.TryCreate(options.DirectoryUrl, UriKind.Absolute, out var directory) || directory.Scheme is not ("https" or "http"))
        {
            failures.Add($"Acme:DirectoryUrl must be an absolute https URL (got '{options.DirectoryUrl}')");
        }
        if (options.Enabled && !options.AcceptTermsOfService)
        {
            failures.Add("Acme:AcceptTermsOfService must be true to use an ACME CA: read the CA's terms, then set it");
        }
        if (options.Email is { Length: > 0 } email && (!MailAddress.TryCreate(email, out var address) || address.Address != email))
        {
            failures.Add($"Acme:Email must be a plain e-mail address (got '{email}')");
        }
        if (options.DirectoryTrustedRootsFile is { Length: > 0 } file)
        {
            try
            {
                var roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(file);
                if (roots.Count == 0)
                {
                    failures.Add($"Acme:DirectoryTrustedRootsFile holds no PEM certificate ({file})");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                failures.Add($"Acme:DirectoryTrustedRootsFile cannot be read as PEM certificates ({file}): {e.Message}");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
