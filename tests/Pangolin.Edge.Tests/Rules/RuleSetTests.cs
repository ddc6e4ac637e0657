using System.Net;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Tests.Rules;

public sealed class RuleSetTests
{
    private static EdgeRule Rule(string action, string match, string value, int priority = 1, string? method = null, int id = 0) =>
        new(id == 0 ? priority : id, priority, action, match, value, method);

    private static RuleOutcome Eval(RuleSet rules, string ip, string? path = "/", string? method = "GET", IGeoLookup? geo = null) =>
        rules.Evaluate(IPAddress.Parse(ip), path, method, geo);

    private sealed class FakeGeo(string? country, long? asn) : IGeoLookup
    {
        public int Lookups { get; private set; }

        public string? Country(IPAddress address)
        {
            Lookups++;
            return country;
        }

        public long? Asn(IPAddress address)
        {
            Lookups++;
            return asn;
        }
    }

    [Fact]
    public void No_rules_is_none()
    {
        Assert.Equal(RuleOutcome.None, Eval(RuleSet.Compile([]), "1.2.3.4"));
        Assert.Equal(RuleOutcome.None, Eval(RuleSet.Empty, "1.2.3.4"));
    }

    [Theory]
    [InlineData("1.2.3.4", "1.2.3.4", true)]
    [InlineData("1.2.3.4", "1.2.3.5", false)]
    [InlineData("1.2.3.4", "::ffff:1.2.3.4", true)]
    [InlineData("::ffff:1.2.3.4", "1.2.3.4", true)]
    [InlineData("2001:db8::1", "2001:db8:0:0::1", true)]
    [InlineData("2001:db8::1", "2001:db8::2", false)]
    [InlineData("::1", "127.0.0.1", false)]
    [InlineData("010.0.0.1", "10.0.0.1", true)]
    public void Ip_rules_match_one_address(string value, string client, bool matches)
    {
        var rules = RuleSet.Compile([Rule("DROP", "IP", value)]);

        Assert.Equal(matches ? RuleOutcome.Drop : RuleOutcome.None, Eval(rules, client));
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.255.1.2", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("10.1.2.3/8", "10.9.9.9", true)] // host bits ignored
    [InlineData("192.168.1.0/24", "192.168.1.255", true)]
    [InlineData("192.168.1.0/24", "192.168.2.0", false)]
    [InlineData("1.2.3.4/32", "1.2.3.4", true)]
    [InlineData("1.2.3.4/32", "1.2.3.5", false)]
    [InlineData("0.0.0.0/0", "203.0.113.7", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)] // families never mix
    [InlineData("10.0.0.0/8", "::ffff:10.1.1.1", true)] // a dual-mode socket's IPv4 client
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("::/0", "2001:db8::1", true)]
    [InlineData("::/0", "1.2.3.4", false)]
    [InlineData("2001:db8::1/128", "2001:db8::1", true)]
    [InlineData("2001:db8::/127", "2001:db8::1", true)]
    [InlineData("2001:db8::/127", "2001:db8::2", false)]
    [InlineData("::ffff:10.0.0.0/104", "10.2.3.4", true)] // an IPv4-mapped range is the IPv4 range
    [InlineData("::ffff:10.0.0.0/104", "11.2.3.4", false)]
    public void Cidr_rules_match_ranges(string value, string client, bool matches)
    {
        var rules = RuleSet.Compile([Rule("ACCEPT", "CIDR", value)]);

        Assert.Equal(matches ? RuleOutcome.Accept : RuleOutcome.None, Eval(rules, client));
    }

    [Theory]
    [InlineData("/admin", "/admin", true)]
    [InlineData("/admin", "/admin/", true)] // empty segments are dropped: trailing slash does not matter
    [InlineData("/admin/", "/admin", true)]
    [InlineData("admin", "/admin", true)]
    [InlineData("/admin", "//admin", true)]
    [InlineData("/admin", "/admin/x", false)]
    [InlineData("/admin", "/Admin", false)] // case-sensitive
    [InlineData("/admin/*", "/admin", true)] // * takes zero or more segments
    [InlineData("/admin/*", "/admin/users/1", true)]
    [InlineData("/admin/*", "/administrator", false)]
    [InlineData("/*/edit", "/a/b/c/edit", true)]
    [InlineData("/*/edit", "/edit", true)]
    [InlineData("/*/edit", "/a/b/c/edit/x", false)]
    [InlineData("/*", "/", true)]
    [InlineData("*", "/anything/at/all", true)]
    [InlineData("/", "/", true)]
    [InlineData("/", "/x", false)]
    [InlineData("/api/*/v1/*", "/api/x/y/v1", true)]
    [InlineData("/api/*/v1/*", "/api/v1", true)]
    [InlineData("/api/*/v1/*", "/api/x/v2", false)]
    [InlineData("/img/*.png", "/img/cat.png", true)] // glob inside one segment
    [InlineData("/img/*.png", "/img/cat.jpg", false)]
    [InlineData("/img/*.png", "/img/a/cat.png", false)] // does not cross a slash
    [InlineData("/img/*.png", "/img/xpng", false)] // '.' is literal here (upstream: any character)
    [InlineData("/v*/items", "/v2/items", true)]
    [InlineData("/v*/items", "/items", false)]
    [InlineData("/file?*", "/file1.txt", true)] // '?' is one character in a segment with '*'
    [InlineData("/file?*", "/file", false)]
    [InlineData("/v?", "/v?", true)] // ... and literal in a segment without
    [InlineData("/v?", "/v1", false)]
    [InlineData("/a b", "/a b", true)] // the decoded path is compared, no percent-decoding of the pattern
    [InlineData("/a%20b", "/a b", false)]
    public void Path_rules_glob_on_segments(string pattern, string path, bool matches)
    {
        var rules = RuleSet.Compile([Rule("PASS", "PATH", pattern)]);

        Assert.Equal(matches ? RuleOutcome.Pass : RuleOutcome.None, Eval(rules, "1.2.3.4", path));
    }

    [Fact]
    public void Path_rules_handle_long_paths_and_many_wildcards()
    {
        var longPath = string.Concat(Enumerable.Repeat("/seg", 200)) + "/end";
        var rules = RuleSet.Compile([Rule("DROP", "PATH", "/*/*/*/*/*/*/*/*/end")]);

        Assert.Equal(RuleOutcome.Drop, Eval(rules, "1.2.3.4", longPath));
        Assert.Equal(RuleOutcome.None, Eval(rules, "1.2.3.4", longPath + "/x"));
    }

    [Fact]
    public void Path_rules_never_match_without_a_path()
    {
        var rules = RuleSet.Compile([Rule("DROP", "PATH", "*")]);

        Assert.Equal(RuleOutcome.None, Eval(rules, "1.2.3.4", path: null, method: null));
        Assert.Equal(RuleOutcome.None, Eval(rules, "1.2.3.4", path: ""));
    }

    [Fact]
    public void Country_rules_compare_the_code_case_insensitively()
    {
        var rules = RuleSet.Compile([Rule("DROP", "COUNTRY", "de")]);

        Assert.Equal(RuleOutcome.Drop, Eval(rules, "8.8.8.8", geo: new FakeGeo("DE", null)));
        Assert.Equal(RuleOutcome.None, Eval(rules, "8.8.8.8", geo: new FakeGeo("US", null)));
        Assert.Equal(RuleOutcome.None, Eval(rules, "8.8.8.8", geo: new FakeGeo(null, null)));
        Assert.Equal(RuleOutcome.None, Eval(rules, "8.8.8.8", geo: null));
    }

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("2001:4860::8888", true)]
    [InlineData("10.1.2.3", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.1.1", false)]
    [InlineData("100.64.0.1", false)] // CGNAT
    [InlineData("100.127.255.255", false)]
    [InlineData("100.128.0.1", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("169.254.1.1", false)]
    [InlineData("::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    public void All_matches_every_public_address_and_skips_private_and_cgnat_ones(string client, bool matches)
    {
        var countryAll = RuleSet.Compile([Rule("DROP", "COUNTRY", "ALL")]);
        var asnAll = RuleSet.Compile([Rule("DROP", "ASN", "ALL")]);
        var as0 = RuleSet.Compile([Rule("DROP", "ASN", "as0")]);
        var expected = matches ? RuleOutcome.Drop : RuleOutcome.None;

        // ALL matches even when the database does not know the address (upstream's isIpInGeoIP/isIpInAsn).
        Assert.Equal(expected, Eval(countryAll, client, geo: null));
        Assert.Equal(expected, Eval(countryAll, client, geo: new FakeGeo("US", 1)));
        Assert.Equal(expected, Eval(asnAll, client, geo: null));
        Assert.Equal(expected, Eval(as0, client, geo: new FakeGeo(null, null)));
    }

    [Fact]
    public void All_on_a_private_address_lets_later_rules_decide()
    {
        var rules = RuleSet.Compile([Rule("DROP", "COUNTRY", "ALL", 1), Rule("ACCEPT", "CIDR", "10.0.0.0/8", 2)]);

        Assert.Equal(RuleOutcome.Accept, Eval(rules, "10.0.0.5"));
        Assert.Equal(RuleOutcome.Drop, Eval(rules, "8.8.8.8"));
    }

    [Theory]
    [InlineData("AS13335", 13335L, true)]
    [InlineData("as13335", 13335L, true)]
    [InlineData("13335", 13335L, true)]
    [InlineData("AS13335", 15169L, false)]
    [InlineData("AS13335", null, false)]
    public void Asn_rules_compare_the_number(string value, long? asn, bool matches)
    {
        var rules = RuleSet.Compile([Rule("ACCEPT", "ASN", value)]);

        Assert.Equal(matches ? RuleOutcome.Accept : RuleOutcome.None, Eval(rules, "1.1.1.1", geo: new FakeGeo(null, asn)));
    }

    [Fact]
    public void Geo_lookups_happen_once_per_evaluation_and_only_when_a_geo_rule_is_reached()
    {
        var geo = new FakeGeo("US", 64500);
        var rules = RuleSet.Compile(
        [
            Rule("ACCEPT", "IP", "1.2.3.4", 1),
            Rule("DROP", "COUNTRY", "FR", 2),
            Rule("DROP", "COUNTRY", "DE", 3),
            Rule("DROP", "ASN", "AS1", 4),
            Rule("DROP", "ASN", "AS2", 5),
        ]);

        Assert.Equal(RuleOutcome.Accept, Eval(rules, "1.2.3.4", geo: geo));
        Assert.Equal(0, geo.Lookups);
        Assert.Equal(RuleOutcome.None, Eval(rules, "5.6.7.8", geo: geo));
        Assert.Equal(2, geo.Lookups);
    }

    [Fact]
    public void Rules_run_in_ascending_priority_then_rule_id_and_the_first_match_decides()
    {
        var rules = RuleSet.Compile(
        [
            Rule("DROP", "CIDR", "0.0.0.0/0", priority: 30, id: 1),
            Rule("PASS", "IP", "1.2.3.4", priority: 20, id: 2),
            Rule("ACCEPT", "CIDR", "1.2.3.0/24", priority: 10, id: 9),
            Rule("DROP", "CIDR", "1.2.3.0/24", priority: 10, id: 3),
        ]);

        // Priority 10 twice: rule 3 before rule 9.
        Assert.Equal(RuleOutcome.Drop, Eval(rules, "1.2.3.4"));
        Assert.Equal(RuleOutcome.Drop, Eval(rules, "9.9.9.9"));
        Assert.Equal(4, rules.Count);

        var pass = RuleSet.Compile([Rule("DROP", "CIDR", "0.0.0.0/0", 2), Rule("PASS", "IP", "1.2.3.4", 1)]);
        Assert.Equal(RuleOutcome.Pass, Eval(pass, "1.2.3.4"));
        Assert.Equal(RuleOutcome.Drop, Eval(pass, "1.2.3.5"));
    }

    [Fact]
    public void Actions_and_match_types_are_case_insensitive()
    {
        var rules = RuleSet.Compile([Rule("accept", "cidr", "1.0.0.0/8", 1), Rule("Drop", "Ip", "2.2.2.2", 2), Rule("pass", "path", "/p", 3)]);

        Assert.Equal(RuleOutcome.Accept, Eval(rules, "1.1.1.1"));
        Assert.Equal(RuleOutcome.Drop, Eval(rules, "2.2.2.2"));
        Assert.Equal(RuleOutcome.Pass, Eval(rules, "3.3.3.3", "/p"));
    }

    [Theory]
    [InlineData("REJECT", "IP", "1.2.3.4")]
    [InlineData("", "IP", "1.2.3.4")]
    [InlineData("DROP", "REGION", "150")]
    [InlineData("DROP", "HOST", "example.com")]
    [InlineData("DROP", "IP", "")]
    [InlineData("DROP", "IP", "1.2.3")]
    [InlineData("DROP", "IP", "1.2.3.4.5")]
    [InlineData("DROP", "IP", "1.2.3.256")]
    [InlineData("DROP", "IP", "1.2.3.4/32")]
    [InlineData("DROP", "IP", "[::1]")]
    [InlineData("DROP", "IP", "fe80::1%eth0")]
    [InlineData("DROP", "IP", "localhost")]
    [InlineData("DROP", "IP", "1")]
    [InlineData("DROP", "CIDR", "1.2.3.4")]
    [InlineData("DROP", "CIDR", "1.2.3.4/33")]
    [InlineData("DROP", "CIDR", "1.2.3.4/-1")]
    [InlineData("DROP", "CIDR", "1.2.3.4/")]
    [InlineData("DROP", "CIDR", "1.2.3.4/8/8")]
    [InlineData("DROP", "CIDR", "::/129")]
    [InlineData("DROP", "CIDR", "::ffff:1.2.3.4/64")]
    [InlineData("DROP", "CIDR", "nonsense/8")]
    [InlineData("DROP", "ASN", "ASX")]
    [InlineData("DROP", "ASN", "AS")]
    [InlineData("DROP", "ASN", "0")]
    [InlineData("DROP", "ASN", "AS-5")]
    [InlineData("DROP", "COUNTRY", "")]
    public void Invalid_rules_are_skipped_and_the_rest_still_apply(string action, string match, string value)
    {
        var rules = RuleSet.Compile([Rule(action, match, value, 1), Rule("ACCEPT", "CIDR", "0.0.0.0/0", 2)]);

        Assert.Equal(1, rules.Count);
        Assert.Equal(RuleOutcome.Accept, Eval(rules, "1.2.3.4", geo: new FakeGeo("US", 0)));
    }

    [Fact]
    public void A_rule_with_a_method_matches_only_that_method()
    {
        var rules = RuleSet.Compile([Rule("DROP", "PATH", "/api/*", 1, method: "post"), Rule("ACCEPT", "CIDR", "0.0.0.0/0", 2, method: "GET")]);

        Assert.Equal(RuleOutcome.Drop, Eval(rules, "1.2.3.4", "/api/x", "POST"));
        Assert.Equal(RuleOutcome.Accept, Eval(rules, "1.2.3.4", "/api/x", "get"));
        Assert.Equal(RuleOutcome.None, Eval(rules, "1.2.3.4", "/api/x", "DELETE"));
    }

    [Fact]
    public void Raw_connections_have_no_path_or_method_so_path_and_method_limited_rules_never_match()
    {
        var rules = RuleSet.Compile(
        [
            Rule("ACCEPT", "CIDR", "0.0.0.0/0", 1, method: "GET"),
            Rule("ACCEPT", "PATH", "*", 2),
            Rule("DROP", "CIDR", "127.0.0.0/8", 3),
        ]);

        Assert.Equal(RuleOutcome.Drop, Eval(rules, "127.0.0.1", path: null, method: null));
        Assert.Equal(RuleOutcome.None, Eval(rules, "8.8.8.8", path: null, method: null));
    }

    [Fact]
    public void A_blank_method_is_no_restriction()
    {
        var rules = RuleSet.Compile([Rule("DROP", "IP", "1.2.3.4", method: " ")]);

        Assert.Equal(RuleOutcome.Drop, Eval(rules, "1.2.3.4", path: null, method: null));
    }

    [Fact]
    public void Evaluating_ip_and_cidr_rules_does_not_allocate()
    {
        var rules = RuleSet.Compile(
        [
            Rule("DROP", "IP", "9.9.9.9", 1),
            Rule("DROP", "CIDR", "10.0.0.0/8", 2),
            Rule("DROP", "CIDR", "2001:db8::/32", 3),
            Rule("PASS", "CIDR", "1.2.3.0/24", 4, method: "GET"),
            Rule("DROP", "COUNTRY", "ALL", 5),
        ]);
        var v4 = IPAddress.Parse("1.2.3.4");
        var mapped = IPAddress.Parse("::ffff:192.168.1.1");
        var v6 = IPAddress.Parse("2001:db9::1");
        for (var i = 0; i < 100; i++)
        {
            rules.Evaluate(v4, "/", "GET", null);
            rules.Evaluate(mapped, null, null, null);
            rules.Evaluate(v6, null, null, null);
        }

        var wrong = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            wrong += rules.Evaluate(v4, "/", "GET", null) == RuleOutcome.Pass ? 0 : 1;
            wrong += rules.Evaluate(mapped, null, null, null) == RuleOutcome.None ? 0 : 1;
            wrong += rules.Evaluate(v6, null, null, null) == RuleOutcome.Drop ? 0 : 1;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, wrong);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Evaluating_path_rules_does_not_allocate()
    {
        var rules = RuleSet.Compile([Rule("DROP", "PATH", "/api/*/items/*.json", 1)]);
        var client = IPAddress.Parse("1.2.3.4");
        rules.Evaluate(client, "/api/v1/x/items/a.json", "GET", null);

        var wrong = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            wrong += rules.Evaluate(client, "/api/v1/x/items/a.json", "GET", null) == RuleOutcome.Drop ? 0 : 1;
            wrong += rules.Evaluate(client, "/api/v1/x/items/a.xml", "GET", null) == RuleOutcome.None ? 0 : 1;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, wrong);
        Assert.Equal(0, allocated);
    }
}
