using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Edge;
using Pangolin.Edge.Badger;

namespace Pangolin.Server.Edge;

/// <summary>
/// The request log: every access decision of the edge, queued without waiting and written in batches (up to 500 rows
/// or every second) off the request path; rows older than <c>Edge:RequestLogRetentionDays</c> are deleted hourly. When
/// the database falls behind by more than the queue holds, decisions are dropped and counted rather than slowing the
/// edge down.
/// </summary>
public sealed partial class RequestLogWriter(
    IServiceScopeFactory scopes, IOptionsMonitor<EdgeOptions> options, TimeProvider time, ILogger<RequestLogWriter> logger)
    : BackgroundService, IAccessLog
{
    private const int BatchSize = 500;
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetentionInterval = TimeSpan.FromHours(1);

    private readonly Channel<AccessDecision> _queue = Channel.CreateBounded<AccessDecision>(
        new BoundedChannelOptions(50_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private long _dropped;
    private RequestLogInsert? _insert;
    private DateTimeOffset _nextRetention;

    /// <summary>Decisions dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Record(AccessDecision decision)
    {
        if (!_queue.Writer.TryWrite(decision))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<AccessDecision>(BatchSize);
        var reader = _queue.Reader;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!await reader.WaitToReadAsync(stoppingToken))
                {
                    return;
                }
                // Let a second's worth gather, so that a busy edge writes few large batches.
                using (var gather = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
                {
                    gather.CancelAfter(FlushInterval);
                    while (batch.Count < BatchSize)
                    {
                        if (reader.TryRead(out var decision))
                        {
                            batch.Add(decision);
                            continue;
                        }
                        try
                        {
                            if (!await reader.WaitToReadAsync(gather.Token))
                            {
                                break;
                            }
                        }
                        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                        {
                            break;
                        }
                    }
                }
                await WriteAsync(batch, stoppingToken);
                batch.Clear();
                await RetainAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException)
            {
                LogWriteFailed(logger, batch.Count, e);
                batch.Clear();
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        // What was decided before the stop is still written.
        while (reader.TryRead(out var decision))
        {
            batch.Add(decision);
        }
        if (batch.Count > 0)
        {
            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await WriteAsync(batch, last.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task WriteAsync(List<AccessDecision> batch, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        // EF's SaveChanges costs tens of microseconds per row (tracking, one INSERT ... RETURNING each on SQLite),
        // which at a busy edge was a third of the server's CPU: plain INSERTs reused in one transaction instead, with
        // the table, columns and parameter types still taken from the EF model.
        var insert = _insert ??= RequestLogInsert.From(db);
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            var connection = db.Database.GetDbConnection();
            await using var transaction = await connection.BeginTransactionAsync(ct);
            await insert.WriteAsync(connection, transaction, batch, ct);
            await transaction.CommitAsync(ct);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private async Task RetainAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (now < _nextRetention)
        {
            return;
        }
        _nextRetention = now + RetentionInterval;
        var days = options.CurrentValue.RequestLogRetentionDays;
        if (days <= 0)
        {
            return;
        }
        var cutoff = (now - TimeSpan.FromDays(days)).UtcDateTime;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var deleted = await db.RequestAuditLogs.Where(l => l.Timestamp < cutoff).ExecuteDeleteAsync(ct);
        if (deleted > 0)
        {
            LogRetained(logger, deleted, days);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} request log entries could not be written")]
    private static partial void LogWriteFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} request log entries older than {Days} days")]
    private static partial void LogRetained(ILogger logger, int count, int days);
}
