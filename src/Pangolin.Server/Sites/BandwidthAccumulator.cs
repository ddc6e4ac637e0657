using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Configuration;
using Pangolin.Tunnel;

namespace Pangolin.Server.Sites;

/// <summary>
/// Per-site traffic, counted by the exit nodes and written to the sites table every Gerbil:BandwidthFlushSeconds
/// (and at shutdown). Exit nodes count from their side — what they receive from a site is what the site sent — so
/// the node's "in" is the site's "out" (upstream swaps them the same way). The embedded node is sampled here every
/// <see cref="SampleInterval"/>; standalone gerbils report through the internal API.
/// </summary>
public sealed partial class BandwidthAccumulator(
    IServiceScopeFactory scopes, EmbeddedExitNode embedded, TimeProvider time, IOptions<GerbilOptions> options, ILogger<BandwidthAccumulator> logger)
    : BackgroundService
{
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(10);
    private const double BytesPerMegabyte = 1024 * 1024;

    private readonly ConcurrentDictionary<string, (double In, double Out)> _pending = new(StringComparer.Ordinal);
    private readonly BandwidthSampler _sampler = new();
    private readonly Lock _samplerLock = new();
    private readonly SemaphoreSlim _flush = new(1, 1);

    /// <summary>Adds a node's count for one site key, in megabytes from the node's point of view.</summary>
    public void Add(string publicKey, double megabytesIn, double megabytesOut)
    {
        if (megabytesIn <= 0 && megabytesOut <= 0 || !double.IsFinite(megabytesIn) || !double.IsFinite(megabytesOut))
        {
            return;
        }
        _pending.AddOrUpdate(publicKey, (Math.Max(0, megabytesIn), Math.Max(0, megabytesOut)),
            (_, sum) => (sum.In + Math.Max(0, megabytesIn), sum.Out + Math.Max(0, megabytesOut)));
    }

    /// <summary>Reads the embedded node's counters and adds what moved since the last reading.</summary>
    public void SampleEmbedded()
    {
        if (embedded.Runtime is not { } runtime)
        {
            return;
        }
        lock (_samplerLock)
        {
            foreach (var peer in _sampler.Sample(runtime.Snapshot().Peers))
            {
                Add(peer.PublicKey.ToBase64(), peer.BytesIn / BytesPerMegabyte, peer.BytesOut / BytesPerMegabyte);
            }
        }
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        await _flush.WaitAsync(ct);
        try
        {
            if (_pending.IsEmpty)
            {
                return;
            }
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            var now = time.GetUtcNow().UtcDateTime;
            foreach (var key in _pending.Keys.ToList())
            {
                if (!_pending.TryRemove(key, out var sum))
                {
                    continue;
                }
                try
                {
                    await db.Sites.Where(s => s.PubKey == key).ExecuteUpdateAsync(u => u
                        .SetProperty(s => s.MegabytesOut, s => s.MegabytesOut + sum.In)
                        .SetProperty(s => s.MegabytesIn, s => s.MegabytesIn + sum.Out)
                        .SetProperty(s => s.LastBandwidthUpdate, now), ct);
                }
                catch
                {
                    Add(key, sum.In, sum.Out); // kept for the next flush
                    throw;
                }
            }
        }
        finally
        {
            _flush.Release();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SampleInterval, time);
        var sinceFlush = TimeSpan.Zero;
        var flushEvery = TimeSpan.FromSeconds(options.Value.BandwidthFlushSeconds);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // The tick's work leaves the timer's thread: a clock that jumps (a test's fake one) fires every
                // missed tick, and a write that completes synchronously (SQLite) would run once for each of them.
                await Task.Yield();
                SampleEmbedded();
                sinceFlush += SampleInterval;
                if (sinceFlush < flushEvery)
                {
                    continue;
                }
                sinceFlush = TimeSpan.Zero;
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

    /// <summary>What was counted since the last flush is written before the process ends.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        SampleEmbedded();
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
            // The host stopped waiting for shutdown and disposed the services: this last count is lost.
        }
    }

    public override void Dispose()
    {
        _flush.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing site bandwidth failed; it is kept for the next flush")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception);
}
