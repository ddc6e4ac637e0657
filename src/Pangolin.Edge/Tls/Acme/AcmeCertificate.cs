using System.Security.Cryptography.X509Certificates;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>An issued certificate: ready to serve, and in PEM form for storing.</summary>
/// <remarks>Owns <see cref="Certificate"/>; dispose it, or hand it on together with the ownership.</remarks>
public sealed class AcmeCertificate(X509Certificate2 certificate, string chainPem, string privateKeyPem) : IDisposable
{
    /// <summary>The leaf certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; } = certificate ?? throw new ArgumentNullException(nameof(certificate));

    /// <summary>The chain as the server sent it (RFC 8555 §7.4.2): the leaf first, then the issuers.</summary>
    public string ChainPem { get; } = chainPem ?? throw new ArgumentNullException(nameof(chainPem));

    /// <summary>The certificate's private key, PKCS#8 PEM. A secret: store it encrypted.</summary>
    public string PrivateKeyPem { get; } = privateKeyPem ?? throw new ArgumentNullException(nameof(privateKeyPem));

    public DateTimeOffset NotBefore => new(Certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);

    public DateTimeOffset NotAfter => new(Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    public void Dispose() => Certificate.Dispose();
}
