using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>Certificates for upload tests: a small CA of their own and leaves it signs, as PEM.</summary>
public static class TestCertificates
{
    /// <summary>A leaf for <paramref name="dnsNames"/>, signed by a fresh CA: the chain PEM (leaf, then CA) and the key PEM.</summary>
    public static (string ChainPem, string KeyPem, X509Certificate2 Root) Create(IEnumerable<string> dnsNames, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Pangolin upload test CA", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        var root = rootRequest.CreateSelfSigned(notBefore.AddDays(-1), notAfter.AddDays(1));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=" + dnsNames.First(), leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            san.AddDnsName(name);
        }
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var leaf = leafRequest.Create(root, notBefore, notAfter, serial);
        return (leaf.ExportCertificatePem() + "\n" + root.ExportCertificatePem() + "\n", leafKey.ExportPkcs8PrivateKeyPem(), root);
    }
}
