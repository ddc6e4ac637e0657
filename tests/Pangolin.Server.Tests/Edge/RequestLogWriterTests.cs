using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Data;
using Pangolin.Edge.Badger;
using Pangolin.Server.Edge;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// The request log's bulk writer on each database: every field of every decision lands as written (nulls, booleans,
/// timestamps that the API's time filter compares), across statements of several rows, and the API reads them back.
/// </summary>
public abstract class RequestLogWriterTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_burst_of_decisions_is_written_whole_and_read_back_field_by_field()
    {
        var writer = Factory.Services.GetRequiredService<RequestLogWriter>();
        var start = new DateTimeOffset(2026, 12, 6, 8, 0, 0, TimeSpan.Zero);
        const int count = 130; // three statements: 50, 50 and 30 rows
        var written = Enumerable.Range(0, count).Select(i => new AccessDecision(
            start.AddMilliseconds(i * 1001.5),
            ResourceId: 1000 + i,
            OrgId: "acme",
            Allowed: i % 3 != 0,
            Reason: i % 3 != 0 ? AccessReason.ValidSession : AccessReason.DroppedByRule,
            Ip: i % 2 == 0 ? $"203.0.113.{i % 250}" : null,
            Country: i % 5 == 0 ? "NL" : null,
            UserAgent: i % 7 == 0 ? null : $"agent/{i} \"quoted\" 'single' ünïcödé",
            Scheme: i % 2 == 0 ? "https" : "http",
            Host: "app.example.test",
            Path: i == 1 ? "/" + new string('x', 3000) : $"/p/{i}",
            Method: i % 4 == 0 ? "POST" : "GET",
            Query: i % 6 == 0 ? "{\"p_token\":\"\"}" : null,
            ActorType: i % 8 == 0 ? "user" : null,
            Actor: i % 8 == 0 ? "someone@example.com" : null,
            ActorId: i % 8 == 0 ? $"user-{i}" : null)).ToList();
        foreach (var decision in written)
        {
            writer.Record(decision);
        }

        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await using var scope = Factory.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            if (await db.RequestAuditLogs.CountAsync(l => l.ResourceId >= 1000, Ct) == count)
            {
                break;
            }
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "the log was not written");
            await Task.Delay(50, Ct);
        }
        Assert.Equal(0, writer.Dropped);

        await using (var scope = Factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            var rows = await db.RequestAuditLogs.AsNoTracking().Where(l => l.ResourceId >= 1000).OrderBy(l => l.ResourceId).ToListAsync(Ct);
            Assert.Equal(count, rows.Select(r => r.Id).Distinct().Count());
            for (var i = 0; i < count; i++)
            {
                var (d, row) = (written[i], rows[i]);
                Assert.Equal(d.ResourceId, row.ResourceId);
                Assert.Equal(d.Timestamp.UtcDateTime, row.Timestamp);
                Assert.Equal(DateTimeKind.Utc, row.Timestamp.Kind);
                Assert.Equal("acme", row.OrgId);
                Assert.Equal(d.Allowed, row.Action);
                Assert.Equal((int)d.Reason, row.Reason);
                Assert.Equal(d.Ip, row.Ip);
                Assert.Equal(d.Country, row.Location);
                Assert.Equal(d.UserAgent, row.UserAgent);
                Assert.Equal(d.Scheme, row.Scheme);
                Assert.Equal(d.Scheme == "https", row.Tls);
                Assert.Equal(d.Host, row.Host);
                Assert.Equal(i == 1 ? d.Path[..2048] : d.Path, row.Path);
                Assert.Equal(d.Method, row.Method);
                Assert.Equal(d.Query, row.Query);
                Assert.Equal(d.ActorType, row.ActorType);
                Assert.Equal(d.Actor, row.Actor);
                Assert.Equal(d.ActorId, row.ActorId);
                Assert.Null(row.Headers);
                Assert.Null(row.Metadata);
            }
        }

        // The API's time window compares what the bulk path stored: rows 10..19 are the ten inside it.
        var from = Uri.EscapeDataString(written[10].Timestamp.ToString("O"));
        var to = Uri.EscapeDataString(written[19].Timestamp.ToString("O"));
        var window = (await Admin.GetJsonAsync($"org/acme/logs/request?timeStart={from}&timeEnd={to}&limit=100")).Expect(200).Data.GetProperty("log");
        Assert.Equal(Enumerable.Range(1010, 10).Reverse(), window.EnumerateArray().Select(e => e.GetProperty("resourceId").GetInt32()));
        var posts = (await Admin.GetJsonAsync("org/acme/logs/request?method=post&action=false&limit=100")).Expect(200).Data.GetProperty("log");
        Assert.Equal(written.Count(d => d.Method == "POST" && !d.Allowed), posts.GetArrayLength());
        Assert.All(posts.EnumerateArray(), e => Assert.Equal(JsonValueKind.String, e.GetProperty("method").ValueKind));
        // The user filter matches the signed-in user by e-mail address or by id.
        var byEmail = (await Admin.GetJsonAsync("org/acme/logs/request?actor=someone%40example.com&limit=100")).Expect(200).Data.GetProperty("log");
        Assert.Equal(written.Count(d => d.Actor == "someone@example.com"), byEmail.GetArrayLength());
        var byId = (await Admin.GetJsonAsync("org/acme/logs/request?actor=user-16&limit=100")).Expect(200).Data.GetProperty("log");
        Assert.Equal(1016, Assert.Single(byId.EnumerateArray()).GetProperty("resourceId").GetInt32());
    }
}

public sealed class SqliteRequestLogWriterTests(PostgresServer postgres) : RequestLogWriterTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRequestLogWriterTests(PostgresServer postgres) : RequestLogWriterTests(DatabaseKind.Postgres, postgres);
