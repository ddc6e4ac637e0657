using System.Globalization;
using System.Net;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// The redirect from plain HTTP behind a port forward: the edge listens on an unprivileged HTTPS port while clients
/// reach it on 443 (a container's published port), and <c>Edge:PublicHttpsPort</c> is the port the redirect names.
/// </summary>
public sealed class EdgeHttpsRedirectTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    private readonly int _httpPort = SmtpTestServer.FreePort();
    private readonly int _httpsPort = SmtpTestServer.FreePort();

    protected override bool Kestrel => true;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Edge:HttpPort"] = _httpPort.ToString(CultureInfo.InvariantCulture),
        ["Edge:HttpsPort"] = _httpsPort.ToString(CultureInfo.InvariantCulture),
        ["Edge:PublicHttpsPort"] = "443",
    };

    [Fact]
    public async Task Behind_a_port_forward_plain_HTTP_is_sent_to_the_public_HTTPS_port_not_the_one_the_edge_listens_on()
    {
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("App");
        await CreateTargetAsync(resource, site, "127.0.0.1", 9);

        using var plain = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{_httpPort}") };
        HttpResponseMessage? answer = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            answer?.Dispose();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/a/b?c=d");
            request.Headers.Host = "app.example.test";
            answer = await plain.SendAsync(request, Ct);
            if (answer.StatusCode == HttpStatusCode.MovedPermanently)
            {
                break;
            }
            await Task.Delay(50, Ct); // the edge picks the new resource up within moments
        }
        using (answer)
        {
            Assert.Equal(HttpStatusCode.MovedPermanently, answer!.StatusCode);
            Assert.Equal("https://app.example.test/a/b?c=d", answer.Headers.Location!.OriginalString);
        }
    }
}
