using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

public sealed class AcmeJwsTests
{
    [Theory]
    // RFC 4648 §10 vectors without their padding, and the two characters base64url replaces (RFC 4648 §5).
    [InlineData("", "")]
    [InlineData("f", "Zg")]
    [InlineData("fo", "Zm8")]
    [InlineData("foo", "Zm9v")]
    [InlineData("foob", "Zm9vYg")]
    [InlineData("fooba", "Zm9vYmE")]
    [InlineData("foobar", "Zm9vYmFy")]
    public void Base64url_has_no_padding(string text, string expected)
    {
        Assert.Equal(expected, AcmeJws.Base64UrlEncode(text));
        Assert.Equal(Encoding.UTF8.GetBytes(text), AcmeJws.Base64UrlDecode(expected));
    }

    [Fact]
    public void Base64url_uses_minus_and_underscore()
    {
        Assert.Equal("-_8", AcmeJws.Base64UrlEncode([0xfb, 0xff]));
        Assert.Equal([0xfb, 0xff], AcmeJws.Base64UrlDecode("-_8"));
    }

    [Fact]
    public void The_thumbprint_of_the_rfc7638_example_key_is_the_rfcs()
    {
        // RFC 7638 §3.1: an RSA key; members given in non-canonical order on purpose.
        const string n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

        var thumbprint = AcmeJws.Thumbprint([("n", n), ("kty", "RSA"), ("e", "AQAB")]);

        Assert.Equal("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", thumbprint);
    }

    [Fact]
    public void The_thumbprint_of_an_ec_key_hashes_its_canonical_jwk()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = key.ExportParameters(false);
        var canonical = $$"""{"crv":"P-256","kty":"EC","x":"{{AcmeJws.Base64UrlEncode(p.Q.X)}}","y":"{{AcmeJws.Base64UrlEncode(p.Q.Y)}}"}""";

        Assert.Equal(AcmeJws.Base64UrlEncode(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))), AcmeJws.Thumbprint(key));
        Assert.Equal(43, AcmeJws.Base64UrlEncode(p.Q.X).Length); // 32 bytes, leading zeros kept
    }

    [Fact]
    public void Key_authorization_and_dns01_value_follow_rfc8555()
    {
        var keyAuthorization = AcmeJws.KeyAuthorization("token-_0", "thumb");

        Assert.Equal("token-_0.thumb", keyAuthorization);
        Assert.Equal(AcmeJws.Base64UrlEncode(SHA256.HashData("token-_0.thumb"u8)), AcmeJws.Dns01TxtValue(keyAuthorization));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_signed_message_is_a_flattened_jws_whose_es256_signature_verifies(bool withJwk)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var jwk = AcmeJws.Jwk(key);
        var header = new AcmeProtectedHeader("ES256", "nonce-1", "https://ca.example/new-order", withJwk ? jwk : null, withJwk ? null : "https://ca.example/acct/1");

        var message = JsonDocument.Parse(AcmeJws.Sign(key, header, """{"a":1}"""u8)).RootElement;

        Assert.Equal(["protected", "payload", "signature"], message.EnumerateObject().Select(p => p.Name));
        var encodedHeader = message.GetProperty("protected").GetString()!;
        var encodedPayload = message.GetProperty("payload").GetString()!;
        var signature = AcmeJws.Base64UrlDecode(message.GetProperty("signature").GetString()!);
        Assert.DoesNotContain('=', encodedHeader + encodedPayload);
        Assert.Equal("""{"a":1}""", Encoding.UTF8.GetString(AcmeJws.Base64UrlDecode(encodedPayload)));

        var decodedHeader = JsonDocument.Parse(AcmeJws.Base64UrlDecode(encodedHeader)).RootElement;
        Assert.Equal("ES256", decodedHeader.GetProperty("alg").GetString());
        Assert.Equal("nonce-1", decodedHeader.GetProperty("nonce").GetString());
        Assert.Equal("https://ca.example/new-order", decodedHeader.GetProperty("url").GetString());
        Assert.Equal(withJwk, decodedHeader.TryGetProperty("jwk", out var headerJwk));
        Assert.Equal(!withJwk, decodedHeader.TryGetProperty("kid", out _));
        if (withJwk)
        {
            Assert.Equal("EC", headerJwk.GetProperty("kty").GetString());
            Assert.Equal("P-256", headerJwk.GetProperty("crv").GetString());
            Assert.Equal(jwk.X, headerJwk.GetProperty("x").GetString());
        }

        // RFC 7518 §3.4: R || S, 64 bytes, over ASCII(protected '.' payload).
        Assert.Equal(64, signature.Length);
        var signingInput = Encoding.ASCII.GetBytes(encodedHeader + "." + encodedPayload);
        Assert.True(key.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    [Fact]
    public void A_post_as_get_has_an_empty_payload()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var header = new AcmeProtectedHeader("ES256", "n", "https://ca.example/order/1", null, "https://ca.example/acct/1");

        var message = JsonDocument.Parse(AcmeJws.Sign(key, header, [])).RootElement;

        Assert.Equal("", message.GetProperty("payload").GetString());
    }

    [Fact]
    public void The_client_refuses_account_keys_other_than_p256()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var http = new HttpClient();

        Assert.Throws<ArgumentException>(() => new AcmeClient(new Uri("https://ca.example/dir"), http, p384));
    }

    [Theory]
    [InlineData("Example.COM.", "example.com")]
    [InlineData(" *.Example.com ", "*.example.com")]
    public void Domains_are_lower_cased_and_trimmed(string domain, string expected) =>
        Assert.Equal([expected], AcmeClient.NormalizeDomains([domain]));

    [Theory]
    [InlineData("")]
    [InlineData("localhost")]
    [InlineData("a.*.example.com")]
    [InlineData("*example.com")]
    [InlineData("-a.example.com")]
    [InlineData("a..example.com")]
    [InlineData("bücher.example")]
    [InlineData("a/b.example.com")]
    public void Names_that_are_not_dns_names_are_refused(string domain) =>
        Assert.Throws<ArgumentException>(() => AcmeClient.NormalizeDomains([domain]));

    [Fact]
    public void Duplicate_domains_are_ordered_once() =>
        Assert.Equal(["a.example.com", "b.example.com"], AcmeClient.NormalizeDomains(["a.example.com", "B.example.com", "A.example.com"]));
}
