using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Pangolin.Newt.Tests.Infrastructure;

/// <summary>
/// A throwaway PKI in a temporary directory: a CA, a server certificate for localhost/127.0.0.1 and a client
/// certificate, both signed by the CA, written as PEM, DER and PKCS#12 the way users hand them to newt.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("newt-mtls-");

    public TestCertificates()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=newt test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        Server = Issue("CN=localhost", ServerAuthentication, names.Build());
        Client = Issue("CN=newt test site", ClientAuthentication, null);
        OtherClient = Issue("CN=another site", ClientAuthentication, null);

        CaPem = Write("ca.pem", Ca.ExportCertificatePem());
        CaDer = Write("ca.der", Ca.RawData);
        ClientCertificatePem = Write("client.pem", Client.ExportCertificatePem());
        ClientKeyPem = Write("client.key", Client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        OtherClientKeyPem = Write("other.key", OtherClient.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        // The CA travels in the bundle, as upstream's PKCS#12 files often carry it.
        ClientPkcs12 = Write("client.p12", new X509Certificate2Collection { Client, Ca }.Export(X509ContentType.Pkcs12, "")!);
    }

    public X509Certificate2 Ca { get; }

    public X509Certificate2 Server { get; }

    public X509Certificate2 Client { get; }

    public X509Certificate2 OtherClient { get; }

    public string CaPem { get; }

    public string CaDer { get; }

    public string ClientCertificatePem { get; }

    public string ClientKeyPem { get; }

    /// <summary>A valid key, but not the client certificate's.</summary>
    public string OtherClientKeyPem { get; }

    public string ClientPkcs12 { get; }

    public string Path(string name) => System.IO.Path.Combine(_directory.FullName, name);

    public string Write(string name, string text)
    {
        File.WriteAllText(Path(name), text);
        return Path(name);
    }

    public string Write(string name, byte[] bytes)
    {
        File.WriteAllBytes(Path(name), bytes);
        return Path(name);
    }

    /// <summary>True when <paramref name="certificate"/> chains to the test CA alone.</summary>
    public bool IssuedByCa(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private X509Certificate2 Issue(string subject, string usage, X509Extension? names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        if (names is not null)
        {
            request.CertificateExtensions.Add(names);
        }
        using var issued = request.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        Ca.Dispose();
        Server.Dispose();
        Client.Dispose();
        OtherClient.Dispose();
        _directory.Delete(recursive: true);
    }
}
