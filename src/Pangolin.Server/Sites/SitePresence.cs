using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Sites;

/// <summary>
/// Whether each newt site is online, and when it last pinged. A connection marks its site online at once and a
/// closed one offline at once; pings are gathered in memory and written every <see cref="FlushInterval"/>, so that
/// a thousand newts pinging cost one write per interval each, not a write per ping; a site whose newt keeps its
/// socket but stops pinging goes offline after Newt:OfflineAfterSeconds.
/// </summary>
public sealed partial class SitePresence(IServiceScopeFactory scopes, TimeProvider time, IOptions<NewtOptions> options, ILogger<SitePresence> logger)
    : BackgroundService
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<int, DateTime> _pings = new();
    private readonly ConcurrentDictionary<int, byte> _connected = new();
    // Serializes writes, so that a flush that read a ping before a disconnect cannot mark the site online after it.
    private readonly SemaphoreSlim _write = new(1, 1);

    public void RecordPing(int siteId)
    {
        if (_connected.ContainsKey(siteId))
        {
            _pings[siteId] = Now;
        }
    }

    public async Task ConnectedAsync(int siteId, CancellationToken ct)
    {
        _connected[siteId] = 0;
        var now = Now;
        await WriteAsync(db => db.Sites.Where(s => s.SiteId == siteId)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Online, true).SetProperty(s => s.LastPing, now), ct), ct);
    }

    public async Task DisconnectedAsync(int siteId, CancellationToken ct)
    {
        _connected.TryRemove(siteId, out _);
        _pings.TryRemove(siteId, out _);
        await WriteAsync(db => db.Sites.Where(s => s.SiteId == siteId)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Online, false), ct), ct);
    }

    /// <summary>No connection survives a restart: every newt site starts offline until its newt connects.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await WriteAsync(db => db.Sites.Where(s => s.Type == "newt" && s.Online)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Online, false), cancellationToken), cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // The tick's work leaves the timer's thread: a clock that jumps (a test's fake one) fires every
                // missed tick, and a write that completes synchronously (SQLite) would run once for each of them.
                await Task.Yield();
                try
                {
                    await FlushAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogFlushFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Writes the gathered pings, then takes offline the sites whose newt went quiet.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        var stale = Now.AddSeconds(-options.Value.OfflineAfterSeconds);
        await WriteAsync(async db =>
        {
            foreach (var (siteId, at) in _pings.ToArray())
            {
                // Removed only if unchanged: a ping that lands meanwhile is kept for the next flush.
                _pings.TryRemove(new KeyValuePair<int, DateTime>(siteId, at));
                if (_connected.ContainsKey(siteId))
                {
                    await db.Sites.Where(s => s.SiteId == siteId)
                        .ExecuteUpdateAsync(u => u.SetProperty(s => s.Online, true).SetProperty(s => s.LastPing, at), ct);
                }
            }
            return await db.Sites.Where(s => s.Type == "newt" && s.Online && (s.LastPing == null || s.LastPing < stale))
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Online, false), ct);
        }, ct);
    }

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    private async Task WriteAsync(Func<PangolinDbContext, Task<int>> write, CancellationToken ct)
    {
        await _write.WaitAsync(ct);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await write(scope.ServiceProvider.GetRequiredService<PangolinDbContext>());
        }
        finally
        {
            _write.Release();
        }
    }

    public override void Dispose()
    {
        _write.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing site presence failed; retrying at the next interval")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}
