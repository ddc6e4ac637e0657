using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Processes;

/// <summary>A bad setting stops start-up with one line that names the key, and a non-zero exit.</summary>
public sealed class ConfigurationErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pangolin-config-").FullName;

    public static TheoryData<string, string> BadSettings => new()
    {
        { "--Server:ExternalPort=70000", "Server:ExternalPort must be between 1 and 65535 (got 70000)" },
        { "--Server:ExternalPort=abc", "Server:ExternalPort must be a whole number (got 'abc')" },
        { "--Database:Provider=mysql", "Database:Provider must be 'sqlite' or 'postgres'" },
        { "--Database:Provider=postgres", "Database:ConnectionString is required when Database:Provider is 'postgres'" },
        { "--Server:ListenAddress=1.2.3", "Server:ListenAddress must be an IPv4 or IPv6 address" },
        { "--App:DashboardUrl=ftp://example.com", "App:DashboardUrl must be an absolute http:// or https:// URL" },
        { "--Server:Secret=short", "Server:Secret" },
        { "--Server:TrustedProxies:0=10.0.0.0/33", "Server:TrustedProxies" },
        { "--Server:Bogus=1", "unknown setting Server:Bogus" },
        { "--Flags:AllowRawResources=maybe", "Flags:AllowRawResources must be true or false" },
        { "--Flags:RequireEmailVerification=true", "Flags:RequireEmailVerification needs e-mail" },
        { "--Domains:main:BaseDomain=not_a_domain", "Domains:main:BaseDomain must be a domain name" },
        { "--RateLimits:Secrets:MaxRequests=0", "RateLimits:Secrets:MaxRequests must be between" },
        { "--Email:NoReply=nope", "Email:NoReply" },
        { "--Server:DashboardSessionLengthHours=0", "Server:DashboardSessionLengthHours" },
        { "--Gerbil:SiteBlockSize=24", "Gerbil:SiteBlockSize must be longer than Gerbil:BlockSize" },
        { "--Gerbil:SubnetGroup=fd00::/64", "Gerbil:SubnetGroup must be an IPv4 CIDR" },
        { "--Gerbil:BaseEndpoint=exa mple", "Gerbil:BaseEndpoint must be a host name or an IP address" },
        { "--Newt:TokenLifetimeMinutes=0", "Newt:TokenLifetimeMinutes must be between" },
        { "--Edge:PublicHttpsPort=70000", "Edge:PublicHttpsPort must be between 0 and 65535 (got 70000)" },
        { "--Gerbil:ControlApiToken=too-short-a-token", "Gerbil:ControlApiToken must be at least 32 characters, as gerbil's CONTROL_API_TOKEN (got 17)" },
        { "--Gerbil:ConfigSigningKey=AAAA", "Gerbil:ConfigSigningKey must be an Ed25519 private key" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_stops_start_up_with_one_line_naming_the_key(string setting, string expected)
    {
        var (exit, stdout, stderr) = await ServerProcess.RunAsync(_dir, null, $"--App:DataDirectory={_dir}/data", setting);
        Assert.Equal(2, exit);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("pangolin: configuration error: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stdout + stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "data", "pangolin.db")), "nothing may be created before the configuration is valid");
    }

    [Fact]
    public async Task A_port_in_use_is_reported_in_one_line()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        var (exit, _, stderr) = await ServerProcess.RunAsync(_dir, null, $"--App:DataDirectory={_dir}/data",
            "--Server:ListenAddress=127.0.0.1", $"--Server:ExternalPort={port}", $"--Server:IntegrationPort={SmtpTestServer.FreePort()}", $"--Server:InternalPort={SmtpTestServer.FreePort()}");
        Assert.Equal(1, exit);
        Assert.Contains($"pangolin: could not start: Failed to bind to address http://127.0.0.1:{port}: address already in use", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
