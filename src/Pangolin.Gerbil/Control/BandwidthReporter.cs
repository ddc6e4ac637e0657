using System.Net.Http.Json;
using Microsoft.Extensions.Logging;
using Pangolin.Protocol;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;
using WirePeerBandwidth = Pangolin.Protocol.Gerbil.PeerBandwidth;

namespace Pangolin.Gerbil.Control;

/// <summary>
/// Every 10 s, each peer's traffic since the last report goes to <c>POST {base}/gerbil/receive-bandwidth</c> as a
/// bare array <c>[{publicKey, bytesIn, bytesOut}]</c> in megabytes (bytes / 1024²), in batches of 250, as upstream
/// gerbil reports (fosrl/gerbil main.go, periodicBandwidthCheck). Peers that moved nothing are left out.
/// </summary>
/// <remarks>
/// Unlike upstream, a report the server does not accept is not lost: its bytes stay pending and are added to the
/// next report's, so the server's totals come out right once it answers again. Deltas are kept in bytes and only
/// converted for the wire.
/// </remarks>
internal sealed partial class BandwidthReporter(HttpClient http, Uri receiveBandwidthUrl, Func<IReadOnlyList<PeerSnapshot>> readPeers,
    TimeProvider time, ILogger<BandwidthReporter> logger) : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>Upstream's GERBIL_BANDWIDTH_BATCH_SIZE default.</summary>
    public const int BatchSize = 250;

    private const double BytesPerMegabyte = 1024 * 1024;
    private readonly BandwidthSampler _sampler = new();
    private readonly Dictionary<WgKey, (long In, long Out)> _pending = [];
    private readonly SemaphoreSlim _reporting = new(1, 1);
    private int _failures;

    /// <summary>Peers whose traffic the server has not accepted yet.</summary>
    public int PendingPeers
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Reports every <see cref="Interval"/> until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await ReportAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping; the caller sends the last report.
        }
    }

    /// <summary>
    /// Samples the counters and sends everything pending; true when the server took it all (or there was nothing
    /// to send). Calls do not overlap: the last report at shutdown waits for a periodic one in flight.
    /// </summary>
    public async Task<bool> ReportAsync(CancellationToken cancellationToken)
    {
        await _reporting.WaitAsync(cancellationToken);
        try
        {
            List<KeyValuePair<WgKey, (long In, long Out)>> pending;
            lock (_pending)
            {
                foreach (var delta in _sampler.Sample(readPeers()))
                {
                    var (bytesIn, bytesOut) = _pending.GetValueOrDefault(delta.PublicKey);
                    _pending[delta.PublicKey] = (bytesIn + delta.BytesIn, bytesOut + delta.BytesOut);
                }
                pending = [.. _pending];
            }
            foreach (var batch in pending.Chunk(BatchSize))
            {
                if (!await SendAsync(batch, cancellationToken))
                {
                    // The rest stays pending too; the next tick tries again rather than hammer a failing server.
                    return false;
                }
                lock (_pending)
                {
                    // Nothing else samples meanwhile (one report at a time), so what was sent is all there was.
                    foreach (var (key, _) in batch)
                    {
                        _pending.Remove(key);
                    }
                }
            }
            return true;
        }
        finally
        {
            _reporting.Release();
        }
    }

    public void Dispose() => _reporting.Dispose();

    private async Task<bool> SendAsync(KeyValuePair<WgKey, (long In, long Out)>[] batch, CancellationToken cancellationToken)
    {
        var report = batch.Select(p => new WirePeerBandwidth
        {
            PublicKey = p.Key.ToBase64(),
            BytesIn = p.Value.In / BytesPerMegabyte,
            BytesOut = p.Value.Out / BytesPerMegabyte,
        }).ToList();
        string problem;
        try
        {
            using var response = await http.PostAsJsonAsync(receiveBandwidthUrl, (IReadOnlyList<WirePeerBandwidth>)report,
                ProtocolJsonContext.Default.IReadOnlyListPeerBandwidth, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                if (_failures > 0)
                {
                    LogRecovered(logger, _failures);
                    _failures = 0;
                }
                LogReported(logger, report.Count);
                return true;
            }
            problem = $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (HttpRequestException e)
        {
            problem = e.Message;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            problem = $"no answer within {http.Timeout.TotalSeconds} s";
        }
        // One warning when reports start failing, then debug until they succeed again.
        if (_failures++ == 0)
        {
            LogFailed(logger, receiveBandwidthUrl, problem);
        }
        else
        {
            LogFailedAgain(logger, _failures, problem);
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Bandwidth reported for {Count} peers")]
    private static partial void LogReported(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bandwidth report to {Url} failed: {Problem}; the traffic is kept for the next report")]
    private static partial void LogFailed(ILogger logger, Uri url, string problem);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Bandwidth report failed again ({Failures} in a row): {Problem}")]
    private static partial void LogFailedAgain(ILogger logger, int failures, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Bandwidth reports accepted again after {Failures} failures")]
    private static partial void LogRecovered(ILogger logger, int failures);
}
