using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Pangolin.Newt.Control;

/// <summary>A path and the flag or environment variable that named it (for error messages).</summary>
internal readonly record struct TlsFile(string Path, string Source);

/// <summary>A certificate, key or CA file that cannot be used; <see cref="Setting"/> is the flag or variable that named it.</summary>
internal sealed class TlsFileException(string setting, string message) : Exception(message)
{
    public string Setting { get; } = setting;
}

/// <summary>
/// TLS towards the server, for get-token and the WebSocket alike: the client certificate newt presents (mTLS, for a
/// server behind a proxy that asks for one), the roots it trusts for the server's certificate, or no verification at
/// all (SKIP_TLS_VERIFY). Loaded once at start-up, so that a bad file stops newt before it connects. As upstream's
/// newt: a PEM certificate and key (<c>--tls-client-cert-file</c>, <c>--tls-client-key</c>) with optional CA files
/// (<c>--tls-client-ca</c>, PEM or DER) that replace the system's roots, or a PKCS#12 file without a password
/// (<c>--tls-client-cert</c>) whose CA certificates are trusted besides the system's roots. Unlike upstream, CA files
/// without a client certificate are used too (upstream ignores them).
/// </summary>
internal sealed class ServerTls
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    private X509Certificate2Collection _chain = [];
    private X509Certificate2Collection _roots = [];
    private bool _rootsReplaceSystem;

    /// <summary>The system's roots, no client certificate: what newt does when no TLS setting is given.</summary>
    public static ServerTls Default { get; } = new();

    /// <summary>The client certificate, with its private key; null when none is configured.</summary>
    public X509Certificate2? ClientCertificate { get; private set; }

    /// <summary>SKIP_TLS_VERIFY: any server certificate is accepted.</summary>
    public bool SkipVerify { get; private init; }

    public string? CertificateFile { get; private init; }

    public string? KeyFile { get; private init; }

    public string? Pkcs12File { get; private init; }

    public IReadOnlyList<string> CaFiles { get; private init; } = [];

    /// <summary>
    /// Checks that the settings go together (as upstream: a PEM certificate needs its key and the other way round; a
    /// PKCS#12 file goes alone) and loads the files.
    /// </summary>
    public static ServerTls Load(TlsFile? certificate, TlsFile? key, TlsFile? pkcs12, IReadOnlyList<TlsFile> caFiles, bool skipVerify)
    {
        ArgumentNullException.ThrowIfNull(caFiles);
        if (pkcs12 is { } bundle && (certificate ?? key ?? (caFiles.Count > 0 ? caFiles[0] : null)) is { } other)
        {
            throw new TlsFileException(bundle.Source, $"a PKCS#12 file goes alone: it cannot be combined with {other.Source}");
        }
        if (certificate is { } certificateOnly && key is null)
        {
            throw new TlsFileException(certificateOnly.Source, "needs the certificate's private key too (--tls-client-key or TLS_CLIENT_KEY)");
        }
        if (key is { } keyOnly && certificate is null)
        {
            throw new TlsFileException(keyOnly.Source, "needs the certificate too (--tls-client-cert-file or TLS_CLIENT_CERT)");
        }

        if (certificate is null && key is null && pkcs12 is null && caFiles.Count == 0 && !skipVerify)
        {
            return Default;
        }
        var tls = new ServerTls
        {
            SkipVerify = skipVerify,
            CertificateFile = certificate?.Path,
            KeyFile = key?.Path,
            Pkcs12File = pkcs12?.Path,
            CaFiles = [.. caFiles.Select(f => f.Path)],
        };
        if (certificate is { } pem && key is { } pemKey)
        {
            tls.LoadPem(pem, pemKey);
        }
        else if (pkcs12 is { } p12)
        {
            tls.LoadPkcs12(p12);
        }
        if (caFiles.Count > 0)
        {
            tls._rootsReplaceSystem = true;
            foreach (var file in caFiles)
            {
                tls._roots.AddRange(ReadCertificates(file));
            }
        }
        return tls;
    }

    /// <summary>What newt presents when the server asks for a client certificate: the certificate and its chain.</summary>
    public SslStreamCertificateContext? CreateCertificateContext() =>
        ClientCertificate is null ? null : SslStreamCertificateContext.Create(ClientCertificate, _chain, offline: true);

    /// <summary>
    /// Judges the server's certificate; <paramref name="problem"/> says what is wrong with a refused one. .NET has
    /// already checked it against the system's roots and the host name (<paramref name="errors"/>).
    /// </summary>
    public bool Verify(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, out string problem)
    {
        problem = "";
        if (SkipVerify)
        {
            return true;
        }
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            problem = "was not sent";
            return false;
        }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            problem = "does not name the endpoint's host";
            return false;
        }
        if (_roots.Count == 0 || (errors == SslPolicyErrors.None && !_rootsReplaceSystem))
        {
            problem = errors == SslPolicyErrors.None ? "" : $"is not trusted ({Statuses(chain)})";
            return errors == SslPolicyErrors.None;
        }
        using var ours = new X509Chain();
        ours.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        ours.ChainPolicy.CustomTrustStore.AddRange(_roots);
        ours.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        ours.ChainPolicy.ApplicationPolicy.Add(ServerAuthentication);
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                ours.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (ours.Build(presented))
        {
            return true;
        }
        problem = $"is not issued by the trusted CAs ({Statuses(ours)})";
        return false;
    }

    private static string Statuses(X509Chain? chain) =>
        chain is null || chain.ChainStatus.Length == 0 ? "no chain" : string.Join(", ", chain.ChainStatus.Select(s => s.Status).Distinct());

    private void LoadPem(TlsFile certificateFile, TlsFile keyFile)
    {
        var certificatePem = ReadText(certificateFile);
        var keyPem = ReadText(keyFile);
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(certificatePem);
        }
        catch (CryptographicException e)
        {
            throw Bad(certificateFile, $"is not a readable PEM certificate: {e.Message}");
        }
        if (certificates.Count == 0)
        {
            throw Bad(certificateFile, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        switch (FindKey(keyPem))
        {
            case KeyLabel.None:
                throw Bad(keyFile, "holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)");
            case KeyLabel.Encrypted:
                throw Bad(keyFile, "holds an encrypted private key; newt needs it unencrypted");
        }
        try
        {
            ClientCertificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw Bad(keyFile, $"is not the private key of the certificate in {certificateFile.Path}: {e.Message}");
        }
        // The leaf first (as upstream reads the file), then the intermediates to send with it.
        certificates.RemoveAt(0);
        _chain = certificates;
    }

    private void LoadPkcs12(TlsFile file)
    {
        var bytes = ReadBytes(file);
        X509Certificate2Collection all;
        try
        {
            // Upstream decodes with an empty password; the loader tries the empty and the absent password alike.
            all = X509CertificateLoader.LoadPkcs12Collection(bytes, password: "");
        }
        catch (CryptographicException e)
        {
            throw Bad(file, LooksLikePem(bytes)
                ? "holds PEM, not PKCS#12 (give a PEM certificate with --tls-client-cert-file and its key with --tls-client-key)"
                : $"is not a PKCS#12 file without a password: {e.Message}");
        }
        ClientCertificate = all.FirstOrDefault(c => c.HasPrivateKey) ?? throw Bad(file, "holds no certificate with a private key");
        all.Remove(ClientCertificate);
        // As upstream: the bundle's CA certificates are trusted besides the system's roots.
        _chain = all;
        _roots = [.. all];
    }

    private static X509Certificate2Collection ReadCertificates(TlsFile file)
    {
        var bytes = ReadBytes(file);
        var certificates = new X509Certificate2Collection();
        try
        {
            if (LooksLikePem(bytes))
            {
                certificates.ImportFromPem(Encoding.UTF8.GetString(bytes));
            }
            else
            {
                certificates.Add(X509CertificateLoader.LoadCertificate(bytes));
            }
        }
        catch (CryptographicException e)
        {
            throw Bad(file, $"is not a PEM or DER certificate: {e.Message}");
        }
        return certificates.Count > 0 ? certificates : throw Bad(file, "holds no certificate (-----BEGIN CERTIFICATE-----)");
    }

    private enum KeyLabel
    {
        None,
        Encrypted,
        Plain,
    }

    private static KeyLabel FindKey(string pem)
    {
        var found = KeyLabel.None;
        var rest = pem.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label];
            if (label is "PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY")
            {
                return KeyLabel.Plain;
            }
            if (label is "ENCRYPTED PRIVATE KEY")
            {
                found = KeyLabel.Encrypted;
            }
            rest = rest[fields.Location.End..];
        }
        return found;
    }

    private static bool LooksLikePem(byte[] bytes) => bytes.AsSpan().IndexOf("-----BEGIN "u8) >= 0;

    private static string ReadText(TlsFile file) => Read(file, File.ReadAllText);

    private static byte[] ReadBytes(TlsFile file) => Read(file, File.ReadAllBytes);

    private static T Read<T>(TlsFile file, Func<string, T> read)
    {
        try
        {
            return read(file.Path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Bad(file, "no such file");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Bad(file, $"cannot be read: {e.Message}");
        }
    }

    private static TlsFileException Bad(TlsFile file, string problem) => new(file.Source, $"{file.Path}: {problem}");
}
