using System.Net;
using System.Text;
using Pangolin.Edge.L4;

namespace Pangolin.Edge.Tests.L4;

/// <summary>Against haproxy's proxy-protocol.txt, §2.1 (v1) and §2.2 (v2), with the bytes worked out by hand.</summary>
public sealed class ProxyProtocolTests
{
    private static IPEndPoint Ep(string address, int port) => new(IPAddress.Parse(address), port);

    private static string V1(IPEndPoint? source, IPEndPoint? target)
    {
        var buffer = new byte[ProxyProtocol.MaxV1Length];
        var length = ProxyProtocol.WriteV1(buffer, source, target);
        return Encoding.ASCII.GetString(buffer, 0, length);
    }

    private static byte[] V2(IPEndPoint? source, IPEndPoint? target)
    {
        var buffer = new byte[ProxyProtocol.MaxV2Length];
        var length = ProxyProtocol.WriteV2(buffer, source, target);
        return buffer[..length];
    }

    [Fact]
    public void V1_tcp4_is_one_text_line()
    {
        Assert.Equal("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", V1(Ep("192.168.0.1", 56324), Ep("192.168.0.11", 443)));
    }

    [Fact]
    public void V1_tcp6_uses_compressed_lower_case_text_without_a_zone()
    {
        Assert.Equal("PROXY TCP6 2001:db8::1 2001:db8:0:1::ab 1234 80\r\n", V1(Ep("2001:DB8::1", 1234), Ep("2001:db8:0:1:0:0:0:ab", 80)));
        Assert.Equal("PROXY TCP6 fe80::1 ::1 1 2\r\n", V1(new IPEndPoint(IPAddress.Parse("fe80::1%2"), 1), Ep("::1", 2)));
    }

    [Theory]
    [InlineData("::", "::")]
    [InlineData("1::", "1::")]
    [InlineData("1:0:0:1:0:0:0:1", "1:0:0:1::1")] // the longest run
    [InlineData("1:0:0:1:1:0:0:1", "1::1:1:0:0:1")] // the first of equal runs
    [InlineData("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")] // one zero group is not compressed
    [InlineData("abcd:ef01:2345:6789:abcd:ef01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789")]
    [InlineData("0:0:0:0:0:0:0:1", "::1")]
    [InlineData("2001:db8:0:0:0:0:0:0", "2001:db8::")]
    public void V1_ipv6_text_follows_rfc_5952(string address, string text)
    {
        Assert.Equal($"PROXY TCP6 {text} {text} 1 2\r\n", V1(Ep(address, 1), Ep(address, 2)));
    }

    [Fact]
    public void V1_longest_header_fits_the_107_bytes_of_the_spec()
    {
        // §2.1 counts 107 for the worst case with "UNKNOWN" and addresses; with "TCP6" it is 104.
        var all = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        var line = V1(Ep(all, 65535), Ep(all, 65535));

        Assert.Equal($"PROXY TCP6 {all} {all} 65535 65535\r\n", line);
        Assert.Equal(104, line.Length);
        Assert.True(line.Length <= ProxyProtocol.MaxV1Length);
        Assert.Equal("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", V1(Ep("255.255.255.255", 65535), Ep("255.255.255.255", 65535)));
    }

    [Fact]
    public void V1_writes_ipv4_mapped_addresses_as_ipv4()
    {
        Assert.Equal("PROXY TCP4 10.0.0.1 10.0.0.2 5000 6000\r\n", V1(Ep("::ffff:10.0.0.1", 5000), Ep("::ffff:10.0.0.2", 6000)));
        Assert.Equal("PROXY TCP4 10.0.0.1 10.0.0.2 5000 6000\r\n", V1(Ep("::ffff:10.0.0.1", 5000), Ep("10.0.0.2", 6000)));
    }

    [Fact]
    public void V1_with_mixed_families_maps_the_ipv4_address_into_tcp6()
    {
        Assert.Equal("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.2 5000 6000\r\n", V1(Ep("2001:db8::1", 5000), Ep("10.0.0.2", 6000)));
        Assert.Equal("PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 5000 6000\r\n", V1(Ep("10.0.0.1", 5000), Ep("2001:db8::2", 6000)));
    }

    [Fact]
    public void V1_without_ip_endpoints_is_unknown()
    {
        Assert.Equal("PROXY UNKNOWN\r\n", V1(null, Ep("1.2.3.4", 1)));
        Assert.Equal("PROXY UNKNOWN\r\n", V1(Ep("1.2.3.4", 1), null));
    }

    [Fact]
    public void V2_ipv4_is_signature_version_family_length_addresses_ports()
    {
        byte[] expected =
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, // signature
            0x21, // version 2, PROXY
            0x11, // AF_INET, STREAM
            0x00, 0x0C, // 12 bytes follow
            192, 168, 0, 1, // source
            192, 168, 0, 11, // destination
            0xDC, 0x04, // 56324
            0x01, 0xBB, // 443
        ];

        Assert.Equal(expected, V2(Ep("192.168.0.1", 56324), Ep("192.168.0.11", 443)));
        Assert.Equal(expected, V2(Ep("::ffff:192.168.0.1", 56324), Ep("192.168.0.11", 443)));
    }

    [Fact]
    public void V2_ipv6_carries_16_byte_addresses()
    {
        byte[] expected =
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
            0x21,
            0x21, // AF_INET6, STREAM
            0x00, 0x24, // 36 bytes follow
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // 2001:db8::1
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 2, // ::ffff:10.0.0.2 (mixed families)
            0x00, 0x50, // 80
            0xFF, 0xFF, // 65535
        ];

        Assert.Equal(expected, V2(Ep("2001:db8::1", 80), Ep("10.0.0.2", 65535)));
    }

    [Fact]
    public void V2_without_ip_endpoints_is_af_unspec_with_no_addresses()
    {
        byte[] expected = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x00, 0x00, 0x00];

        Assert.Equal(expected, V2(null, null));
    }

    [Fact]
    public void Too_small_a_buffer_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ProxyProtocol.WriteV1(new byte[50], Ep("1.2.3.4", 1), Ep("1.2.3.4", 2)));
        Assert.Throws<ArgumentException>(() => ProxyProtocol.WriteV2(new byte[20], Ep("1.2.3.4", 1), Ep("1.2.3.4", 2)));
    }

    [Fact]
    public void Writing_headers_does_not_allocate()
    {
        var v4a = Ep("203.0.113.9", 40000);
        var v4b = Ep("198.51.100.1", 443);
        var v6a = Ep("2001:db8::9", 40000);
        var v6b = Ep("2001:db8:1::1", 443);
        var buffer = new byte[128];
        ProxyProtocol.WriteV1(buffer, v6a, v6b);
        ProxyProtocol.WriteV2(buffer, v6a, v6b);

        var total = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            total += ProxyProtocol.WriteV1(buffer, v4a, v4b);
            total += ProxyProtocol.WriteV1(buffer, v6a, v6b);
            total += ProxyProtocol.WriteV2(buffer, v4a, v4b);
            total += ProxyProtocol.WriteV2(buffer, v6a, v4b);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(total > 0);
        Assert.Equal(0, allocated);
    }
}
