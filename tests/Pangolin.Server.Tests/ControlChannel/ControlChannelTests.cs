using System.Net.WebSockets;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.ControlChannel;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>
/// The newt control channel as an upstream newt sees it: get-token, the WebSocket's authentication, ping/pong with
/// configuration versions, online state, bad messages, a second connection with the same id, and revocation.
/// </summary>
public abstract class ControlChannelTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    [Fact]
    public async Task A_newt_gets_a_token_in_the_envelope_newt_reads()
    {
        var site = await CreateNewtSiteAsync();
        var reply = (await GetTokenAsync(site.NewtId, site.Secret)).Expect(200);
        Assert.True(reply.Body.GetProperty("success").GetBoolean());
        Assert.False(reply.Body.GetProperty("error").GetBoolean());
        Assert.Equal(200, reply.Body.GetProperty("status").GetInt32());
        Assert.Equal("Token created successfully", reply.Message);
        Assert.True(reply.Data.GetProperty("token").GetString()!.Length >= 40);
        Assert.NotEmpty(reply.Data.GetProperty("serverVersion").GetString()!);

        // Stored hashed: the token itself is nowhere in the table.
        var token = reply.Data.GetProperty("token").GetString()!;
        var stored = await DbAsync(db => db.NewtSessions.AsNoTracking().Select(s => s.SessionId).ToListAsync());
        Assert.DoesNotContain(token, stored);
        Assert.Contains(Pangolin.Server.Auth.Secrets.Sha256Hex(token), stored);
    }

    [Fact]
    public async Task A_wrong_secret_and_an_unknown_id_get_the_same_refusal()
    {
        var site = await CreateNewtSiteAsync();
        var wrong = (await GetTokenAsync(site.NewtId, site.Secret + "x")).Expect(401);
        var unknown = (await GetTokenAsync("nosuchnewt00000", site.Secret)).Expect(401);
        Assert.Equal(wrong.Message, unknown.Message);
        Assert.Equal(NewtTokenApi.Refused, wrong.Message);
        Assert.Equal("application/problem+json", wrong.Response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Fields_an_upstream_newt_adds_are_accepted_and_bad_bodies_get_clear_errors()
    {
        var site = await CreateNewtSiteAsync();
        (await GetTokenAsync(site.NewtId, site.Secret, new { newtId = site.NewtId, secret = site.Secret, token = "stale-token", agent = "newt" })).Expect(200);

        using var client = Factory.DashboardClient();
        Assert.Contains("must be a JSON object", (await client.SendRawAsync(HttpMethod.Post, "auth/newt/get-token", "{")).Expect(400).Message, StringComparison.Ordinal);
        Assert.Contains("must be a JSON object", (await client.SendRawAsync(HttpMethod.Post, "auth/newt/get-token", "[]")).Expect(400).Message, StringComparison.Ordinal);
        Assert.Contains("newtId and secret are required", (await client.PostJsonAsync("auth/newt/get-token", new { newtId = site.NewtId })).Expect(400).Message, StringComparison.Ordinal);
        (await client.SendRawAsync(HttpMethod.Post, "auth/newt/get-token", "{}", "text/plain")).Expect(415);
        using var noCsrf = Factory.DashboardClient(csrf: false);
        (await noCsrf.PostJsonAsync("auth/newt/get-token", new { newtId = site.NewtId, secret = site.Secret })).Expect(403);
    }

    [Fact]
    public async Task Guessing_a_newt_secret_is_rate_limited()
    {
        var site = await CreateNewtSiteAsync();
        for (var i = 0; i < 15; i++)
        {
            (await GetTokenAsync(site.NewtId, $"guess-{i}")).Expect(401);
        }
        var limited = (await GetTokenAsync(site.NewtId, "guess-16")).Expect(429);
        Assert.NotNull(limited.Response.Headers.RetryAfter);
        // A success does not spend the budget: another newt's right secret still works from the same address.
        var other = await CreateNewtSiteAsync("Other");
        for (var i = 0; i < 20; i++)
        {
            (await GetTokenAsync(other.NewtId, other.Secret)).Expect(200);
        }
    }

    [Fact]
    public async Task The_websocket_refuses_a_missing_wrong_or_expired_token_before_the_upgrade()
    {
        var site = await CreateNewtSiteAsync();
        var token = await TokenAsync(site);

        await AssertRefusedAsync("");
        await AssertRefusedAsync("not-a-token");
        await using (await NewtScript.ConnectAsync(Factory.Server, token))
        {
        }
        Factory.Clock.Advance(TimeSpan.FromMinutes(16)); // Newt:TokenLifetimeMinutes is 15
        await AssertRefusedAsync(token);

        // A plain GET with a good token is told to upgrade.
        using var client = Factory.DashboardClient();
        var plain = (await client.GetJsonAsync($"ws?token={Uri.EscapeDataString(await TokenAsync(site))}&clientType=newt")).Expect(400);
        Assert.Contains("WebSocket", plain.Message, StringComparison.Ordinal);
        (await client.GetJsonAsync($"ws?token={Uri.EscapeDataString(await TokenAsync(site))}&clientType=olm")).Expect(400);
    }

    [Fact]
    public async Task A_ping_gets_a_pong_stamped_with_the_configuration_version_and_keeps_the_site_online()
    {
        var site = await CreateNewtSiteAsync();
        Assert.False((await PresenceAsync(site.SiteId)).Online);
        await using var newt = await ConnectAsync(site);
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online once its newt connects");

        await newt.PingAsync();
        var pong = await newt.ExpectAsync(MessageTypes.Pong);
        Assert.Equal(0, pong.ConfigVersion);
        var at = DateTimeOffset.Parse(NewtScript.Data(pong, ProtocolJsonContext.Default.PongData).Timestamp, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Factory.Clock.GetUtcNow(), at);

        // The older newts' ping is answered alike.
        await newt.SendAsync("{\"type\":\"ping\",\"data\":{\"configVersion\":0}}");
        await newt.ExpectAsync(MessageTypes.Pong);

        // Pings are written at the next flush, not one write each.
        Factory.Clock.Advance(TimeSpan.FromSeconds(30));
        await newt.PingAsync();
        await newt.ExpectAsync(MessageTypes.Pong);
        await Factory.Services.GetRequiredService<SitePresence>().FlushAsync(TestContext.Current.CancellationToken);
        Assert.Equal(Factory.Clock.GetUtcNow().UtcDateTime, (await PresenceAsync(site.SiteId)).LastPing);
        Assert.True((await PresenceAsync(site.SiteId)).Online);
    }

    [Fact]
    public async Task A_site_goes_offline_when_its_socket_closes_or_its_newt_stops_pinging()
    {
        var site = await CreateNewtSiteAsync();
        var presence = Factory.Services.GetRequiredService<SitePresence>();
        await using (var newt = await ConnectAsync(site))
        {
            await newt.PingAsync();
            await newt.ExpectAsync(MessageTypes.Pong);
            Assert.True((await PresenceAsync(site.SiteId)).Online);
        }
        await EventuallyAsync(async () => !(await PresenceAsync(site.SiteId)).Online, "offline as soon as the socket closes");

        await using var quiet = await ConnectAsync(site);
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "online again on reconnect");
        Factory.Clock.Advance(TimeSpan.FromSeconds(119));
        await presence.FlushAsync(TestContext.Current.CancellationToken);
        Assert.True((await PresenceAsync(site.SiteId)).Online, "still within Newt:OfflineAfterSeconds");
        Factory.Clock.Advance(TimeSpan.FromSeconds(2));
        await presence.FlushAsync(TestContext.Current.CancellationToken);
        Assert.False((await PresenceAsync(site.SiteId)).Online, "quiet past Newt:OfflineAfterSeconds");

        // The timer does the same on its own.
        await quiet.PingAsync();
        await quiet.ExpectAsync(MessageTypes.Pong);
        Factory.Clock.Advance(SitePresence.FlushInterval);
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the periodic flush writes the ping");
    }

    [Fact]
    public async Task A_newt_saying_it_disconnects_is_offline_at_once()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "online");
        await newt.SendAsync("{\"type\":\"newt/disconnecting\",\"data\":{}}");
        await EventuallyAsync(async () => !(await PresenceAsync(site.SiteId)).Online, "offline after newt/disconnecting");
    }

    [Fact]
    public async Task Unknown_types_are_ignored_and_bad_messages_get_an_error_that_quotes_them()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);

        await newt.SendAsync("{\"type\":\"newt/socket/status\",\"data\":{\"anything\":[1,2]}}");
        await newt.SendAsync("{\"type\":\"newt/ping\",\"data\":[]}");
        await newt.ExpectAsync(MessageTypes.Pong); // data of the wrong shape is not needed by ping: still answered
        await newt.SendAsync("{\"type\":\"ping\",\"data\":{\"configVersion\":\"seven\"}}");
        var error = await newt.ExpectAsync(MessageTypes.Error);
        var data = NewtScript.Data(error, ProtocolJsonContext.Default.ErrorData);
        Assert.StartsWith("ping:", data.Message, StringComparison.Ordinal);
        Assert.Contains("seven", data.OriginalMessage, StringComparison.Ordinal);

        await newt.SendAsync("{not json");
        var unreadable = NewtScript.Data(await newt.ExpectAsync(MessageTypes.Error), ProtocolJsonContext.Default.ErrorData);
        Assert.Contains("not valid JSON", unreadable.Message, StringComparison.Ordinal);
        Assert.Equal("{not json", unreadable.OriginalMessage);

        // Gzip binary frames are read like text frames; the socket is still open after all of the above.
        await newt.SendGzipAsync(WsMessage.CreateEmpty(MessageTypes.NewtPing));
        await newt.ExpectAsync(MessageTypes.Pong);
        Assert.Equal(WebSocketState.Open, newt.State);
    }

    [Fact]
    public async Task A_second_connection_with_the_same_id_replaces_the_first_which_is_told_why()
    {
        var site = await CreateNewtSiteAsync();
        await using var first = await ConnectAsync(site);
        await first.PingAsync();
        await first.ExpectAsync(MessageTypes.Pong);

        await using var second = await ConnectAsync(site);
        var error = NewtScript.Data(await first.ExpectAsync(MessageTypes.NewtError), ProtocolJsonContext.Default.NewtErrorData);
        Assert.Equal(MessageTypes.ErrorCodeReplaced, error.Code);
        Assert.Null(await first.ReceiveAsync());
        Assert.Equal(NewtConnection.Replaced, first.CloseStatus);

        // The replaced socket's end does not take the site offline: the second one holds it.
        await second.PingAsync();
        await second.ExpectAsync(MessageTypes.Pong);
        Assert.True((await PresenceAsync(site.SiteId)).Online);
        Assert.Equal(1, Factory.Services.GetRequiredService<ConnectionRegistry>().Count);
    }

    [Fact]
    public async Task Rotating_the_secret_closes_the_socket_and_the_old_secret_gets_no_new_token()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);
        var unused = await TokenAsync(site);

        var rotated = (await Admin.PostJsonAsync($"site/{site.SiteId}/regenerate-secret")).Expect(200).Data.GetProperty("secret").GetString()!;
        Assert.Null(await newt.ReceiveAsync());
        Assert.Equal(NewtConnection.Revoked, newt.CloseStatus);
        (await GetTokenAsync(site.NewtId, site.Secret)).Expect(401);
        await AssertRefusedAsync(unused);
        await EventuallyAsync(async () => !(await PresenceAsync(site.SiteId)).Online, "offline after revocation");
        await using var again = await NewtScript.ConnectAsync(Factory.Server, await TokenAsync(site with { Secret = rotated }));
    }

    [Fact]
    public async Task Deleting_the_site_terminates_its_newt_and_closes_the_socket()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);
        await newt.PingAsync();
        await newt.ExpectAsync(MessageTypes.Pong);

        (await Admin.DeleteJsonAsync($"site/{site.SiteId}")).Expect(200);
        var terminate = await newt.ExpectAsync(MessageTypes.NewtWgTerminate);
        Assert.Equal("site deleted", NewtScript.Data(terminate, ProtocolJsonContext.Default.TerminateData).Reason);
        Assert.Null(await newt.ReceiveAsync());
        Assert.Equal(NewtConnection.Revoked, newt.CloseStatus);
        (await GetTokenAsync(site.NewtId, site.Secret)).Expect(401);
    }

    [Fact]
    public async Task A_newt_with_a_tunnel_gets_its_whole_state_on_the_first_ping_and_when_its_version_differs()
    {
        var site = await CreateNewtSiteAsync();
        var resource = (await Admin.PutJsonAsync("org/acme/resource", new { name = "App", http = true, subdomain = "app", domainId = "main" })).Expect(201).Data;
        var resourceId = resource.GetProperty("resourceId").GetInt32();
        var target = (await Admin.PutJsonAsync($"resource/{resourceId}/target",
            new { siteId = site.SiteId, ip = "fd00::5", port = 8080, hcEnabled = true, hcPath = "/health" })).Expect(201).Data;
        var targetId = target.GetProperty("targetId").GetInt32();
        // What registration (wg/register) will store: the tunnel and the target's port on the newt.
        await DbAsync(async db =>
        {
            await db.Sites.Where(s => s.SiteId == site.SiteId).ExecuteUpdateAsync(u => u
                .SetProperty(s => s.PubKey, "x7U1xn6B4C0Yd1pNXr6hZk3H3s3BOb0t8y3bbvZ0cGk=").SetProperty(s => s.Subnet, "100.89.137.4/30"));
            return await db.Targets.Where(t => t.TargetId == targetId).ExecuteUpdateAsync(u => u.SetProperty(t => t.InternalPort, 40001));
        });

        await using var newt = await ConnectAsync(site);
        await newt.PingAsync();
        var sync = NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtSync), ProtocolJsonContext.Default.SyncData);
        Assert.Equal(["40001:[fd00::5]:8080"], sync.ProxyTargets.Tcp);
        Assert.Empty(sync.ProxyTargets.Udp);
        var check = Assert.Single(sync.HealthCheckTargets);
        Assert.Equal("/health", check.HcPath);
        Assert.Equal("fd00::5", check.HcHostname);
        await newt.ExpectAsync(MessageTypes.Pong);

        // Same version: no sync. A different one: sync again.
        await newt.PingAsync();
        Assert.DoesNotContain(await newt.DrainAsync(TimeSpan.FromMilliseconds(300)), m => m.Type == MessageTypes.NewtSync);
        await newt.PingAsync(version: 41);
        await newt.ExpectAsync(MessageTypes.NewtSync);
    }

    [Fact]
    public async Task A_newt_without_a_tunnel_gets_no_sync()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);
        await newt.PingAsync(version: 3);
        var seen = await newt.DrainAsync(TimeSpan.FromMilliseconds(300));
        Assert.Equal([MessageTypes.Pong], seen.Select(m => m.Type));
    }
}

public sealed class SqliteControlChannelTests(PostgresServer postgres) : ControlChannelTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresControlChannelTests(PostgresServer postgres) : ControlChannelTests(DatabaseKind.Postgres, postgres);
