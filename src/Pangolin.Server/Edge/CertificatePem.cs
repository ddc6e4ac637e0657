using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Pangolin.Edge.Tls;

namespace Pangolin.Server.Edge;

/// <summary>PEM chains and keys as stored in the certificates table, turned into what the edge serves.</summary>
internal static class CertificatePem
{
    /// <summary>The leaf (with its key) and the issuers of a stored chain; throws <see cref="CryptographicException"/> if they do not fit.</summary>
    public static EdgeServerCertificate Load(string name, bool uploaded, string chainPem, string keyPem)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(chainPem);
        if (chain.Count == 0)
        {
            throw new CryptographicException("The chain holds no certificate.");
        }
        // The first certificate is the leaf (RFC 8555 §7.4.2; the order uploads are asked for too).
        var leaf = X509Certificate2.CreateFromPem(chain[0].ExportCertificatePem(), keyPem);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }
        chain[0].Dispose();
        return new EdgeServerCertificate(name, uploaded, leaf, intermediates);
    }

    /// <summary>The collection as one PEM text, leaf first.</summary>
    public static string Export(X509Certificate2Collection chain)
    {
        var text = new StringBuilder();
        foreach (var certificate in chain)
        {
            text.Append(certificate.ExportCertificatePem()).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// The edge's fallback: self-signed, for a name that says what it is, so that a client reaching a name with no
    /// certificate (yet) fails its check rather than talking in clear. Valid for ten years: it is never trusted anyway.
    /// </summary>
    public static (string ChainPem, string KeyPem, DateTimeOffset NotBefore, DateTimeOffset NotAfter) CreateSelfSigned(string name, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name + ", O=Pangolin self-signed fallback", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var notBefore = now.AddDays(-1);
        var notAfter = now.AddYears(10);
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        return (certificate.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem(), notBefore, notAfter);
    }
}
