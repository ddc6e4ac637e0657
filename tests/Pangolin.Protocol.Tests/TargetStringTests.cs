namespace Pangolin.Protocol.Tests;

/// <summary>(d) The <c>internalPort:host:port</c> table.</summary>
public sealed class TargetStringTests
{
    public static TheoryData<string, int, string, int> Valid => new()
    {
        { "40001:10.0.0.5:8080", 40001, "10.0.0.5", 8080 },
        { "40003:[fd00::5]:5432", 40003, "fd00::5", 5432 },
        { "1:[::1]:65535", 1, "::1", 65535 },
        { "65535:app.internal.example:443", 65535, "app.internal.example", 443 },
        { "40010:localhost:80", 40010, "localhost", 80 },
    };

    public static TheoryData<string?, string> Invalid => new()
    {
        { null, "is empty" },
        { "", "is empty" },
        { "40001", "has no colon" },
        { "40001:10.0.0.5", "has no target port" },
        { "abc:10.0.0.5:80", "invalid internal port \"abc\"" },
        { "0:10.0.0.5:80", "invalid internal port \"0\"" },
        { "65536:10.0.0.5:80", "invalid internal port \"65536\"" },
        { "-1:10.0.0.5:80", "invalid internal port \"-1\"" },
        { "40001:10.0.0.5:0", "invalid target port \"0\"" },
        { "40001:10.0.0.5:70000", "invalid target port \"70000\"" },
        { "40001:10.0.0.5:http", "invalid target port \"http\"" },
        { "40001:10.0.0.5:", "invalid target port \"\"" },
        { "40001::80", "empty host" },
        { "40001:[]:80", "empty host" },
        { "40001:fd00::5:80", "IPv6 host without brackets" },
        { "40001:[fd00::5:80", "without a closing bracket" },
        { "40001:[fd00::5]80", "no \":port\" after the bracketed host" },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Valid_targets_parse_into_their_parts_and_format_back_unchanged(string text, int internalPort, string host, int port)
    {
        var target = TargetString.Parse(text);
        Assert.Equal(new TargetString(internalPort, host, port), target);
        Assert.Equal(text, target.ToString());
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_targets_are_refused_with_a_message_naming_the_problem(string? text, string expectedFragment)
    {
        Assert.False(TargetString.TryParse(text, out _, out var error));
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
        if (text is not null)
        {
            var ex = Assert.Throws<FormatException>(() => TargetString.Parse(text));
            Assert.Equal(error, ex.Message);
        }
    }

    [Fact]
    public void Formatting_brackets_an_IPv6_host_and_only_that()
    {
        Assert.Equal("40001:[fd00::5]:80", TargetString.Format(40001, "fd00::5", 80));
        Assert.Equal("40001:10.0.0.5:80", TargetString.Format(40001, "10.0.0.5", 80));
        Assert.Equal("[2001:db8::1]:51820", TargetString.FormatHostPort("2001:db8::1", 51820));
        Assert.Equal("pangolin.example.com:51820", TargetString.FormatHostPort("pangolin.example.com", 51820));
        Assert.Equal("[fd00::5]:5432", TargetString.Parse("1:[fd00::5]:5432").HostPort);
    }

    [Fact]
    public void Formatting_refuses_ports_outside_the_range()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TargetString.Format(0, "h", 80));
        Assert.Throws<ArgumentOutOfRangeException>(() => TargetString.Format(40001, "h", 65536));
        Assert.Throws<ArgumentException>(() => TargetString.FormatHostPort("", 80));
    }
}
