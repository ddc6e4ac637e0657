using Pangolin.Server.Dashboard.Pages;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The profile's QR code for the authenticator app: drawn on the server, a PNG in a data: URI.</summary>
public sealed class ProfileQrTests
{
    [Fact]
    public void The_otpauth_address_becomes_a_png_data_uri()
    {
        var uri = Profile.QrDataUri("otpauth://totp/Pangolin:admin%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Pangolin&algorithm=SHA1&digits=6&period=30");
        Assert.StartsWith("data:image/png;base64,", uri, StringComparison.Ordinal);
        var png = Convert.FromBase64String(uri["data:image/png;base64,".Length..]);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.True(png.Length > 200);
    }
}
