using System.Net;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Tests.Rules;

public sealed class MaxMindGeoLookupTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pangolin-mmdb-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string CountryDatabase()
    {
        var path = Path.Combine(_directory, "country.mmdb");
        new MmdbWriter("GeoLite2-Country")
            .Add("1.1.1.0/24", Country("AU"))
            .Add("8.8.0.0/16", Country("US"))
            .Add("8.8.4.0/24", Country("DE")) // more specific, inside the /16
            .Add("2606:4700::/32", Country("CA"))
            .Add("81.2.69.0/24", new Dictionary<string, object>
            {
                // Only registered_country: upstream reads country.iso_code, so this is unknown.
                ["registered_country"] = new Dictionary<string, object> { ["iso_code"] = "GB" },
            })
            .Write(path);
        return path;

        static Dictionary<string, object> Country(string code) => new()
        {
            ["continent"] = new Dictionary<string, object> { ["code"] = "XX" },
            ["country"] = new Dictionary<string, object>
            {
                ["geoname_id"] = 123u,
                ["iso_code"] = code,
                ["names"] = new Dictionary<string, object> { ["en"] = "Somewhere" },
            },
        };
    }

    private string AsnDatabase()
    {
        var path = Path.Combine(_directory, "asn.mmdb");
        new MmdbWriter("GeoLite2-ASN")
            .Add("1.1.1.0/24", Asn(13335, "CLOUDFLARENET"))
            .Add("2001:4860::/32", Asn(15169, "GOOGLE"))
            .Add("203.0.113.0/24", Asn(4_200_000_000, "PRIVATE-32BIT"))
            .Write(path);
        return path;

        static Dictionary<string, object> Asn(uint number, string organization) => new()
        {
            ["autonomous_system_number"] = number,
            ["autonomous_system_organization"] = organization,
        };
    }

    [Fact]
    public void Country_codes_come_from_country_iso_code_through_the_real_reader()
    {
        using var geo = new MaxMindGeoLookup(CountryDatabase());

        Assert.Equal("AU", geo.Country(IPAddress.Parse("1.1.1.1")));
        Assert.Equal("US", geo.Country(IPAddress.Parse("8.8.8.8")));
        Assert.Equal("DE", geo.Country(IPAddress.Parse("8.8.4.4")));
        Assert.Equal("CA", geo.Country(IPAddress.Parse("2606:4700:4700::1111")));
        Assert.Equal("AU", geo.Country(IPAddress.Parse("::ffff:1.1.1.1")));
        Assert.Null(geo.Country(IPAddress.Parse("9.9.9.9")));
        Assert.Null(geo.Country(IPAddress.Parse("2001:db8::1")));
        Assert.Null(geo.Country(IPAddress.Parse("81.2.69.160")));
        Assert.Null(geo.Asn(IPAddress.Parse("1.1.1.1")));
    }

    [Fact]
    public void Asn_numbers_come_from_autonomous_system_number()
    {
        using var geo = new MaxMindGeoLookup(CountryDatabase(), AsnDatabase());

        Assert.Equal(13335, geo.Asn(IPAddress.Parse("1.1.1.1")));
        Assert.Equal(15169, geo.Asn(IPAddress.Parse("2001:4860:4860::8888")));
        Assert.Equal(4_200_000_000, geo.Asn(IPAddress.Parse("203.0.113.9")));
        Assert.Null(geo.Asn(IPAddress.Parse("8.8.8.8")));
        Assert.Equal("US", geo.Country(IPAddress.Parse("8.8.8.8")));
    }

    [Fact]
    public void An_asn_database_alone_is_enough()
    {
        using var geo = new MaxMindGeoLookup(null, AsnDatabase());

        Assert.Equal(13335, geo.Asn(IPAddress.Parse("1.1.1.1")));
        Assert.Null(geo.Country(IPAddress.Parse("1.1.1.1")));
    }

    [Fact]
    public void Rules_see_the_lookups()
    {
        using var geo = new MaxMindGeoLookup(CountryDatabase(), AsnDatabase());
        var rules = RuleSet.Compile(
        [
            new EdgeRule(1, 1, "DROP", "COUNTRY", "de", null),
            new EdgeRule(2, 2, "ACCEPT", "ASN", "AS13335", null),
        ]);

        Assert.Equal(RuleOutcome.Drop, rules.Evaluate(IPAddress.Parse("8.8.4.4"), "/", "GET", geo));
        Assert.Equal(RuleOutcome.Accept, rules.Evaluate(IPAddress.Parse("1.1.1.1"), "/", "GET", geo));
        Assert.Equal(RuleOutcome.None, rules.Evaluate(IPAddress.Parse("8.8.8.8"), "/", "GET", geo));
    }

    [Fact]
    public void A_missing_file_is_named_in_the_error()
    {
        var missing = Path.Combine(_directory, "nope", "GeoLite2-Country.mmdb");

        var error = Assert.Throws<FileNotFoundException>(() => new MaxMindGeoLookup(missing));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("country", error.Message, StringComparison.Ordinal);

        var asnError = Assert.Throws<FileNotFoundException>(() => new MaxMindGeoLookup(CountryDatabase(), missing));
        Assert.Contains(missing, asnError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_named_in_the_error()
    {
        var path = Path.Combine(_directory, "garbage.mmdb");
        File.WriteAllText(path, "not a maxmind database");

        var error = Assert.Throws<InvalidDataException>(() => new MaxMindGeoLookup(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
