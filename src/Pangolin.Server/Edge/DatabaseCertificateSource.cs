using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge.Tls;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Edge;

/// <summary>
/// Fills the edge's <see cref="EdgeCertificateStore"/> from the certificates table: before the server takes requests,
/// shortly after any committed write to it (<see cref="EdgeChangeSignal"/>), and every few minutes in case a change came
/// from elsewhere. Handshakes read only the store. Creates the self-signed fallback once and keeps it in the table.
/// </summary>
public sealed partial class DatabaseCertificateSource : IHostedService, IDisposable
{
    /// <summary>The name of the fallback certificate (RFC 2606's .invalid: it can never be anyone's).</summary>
    public const string FallbackName = "fallback.pangolin.invalid";

    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Periodic = TimeSpan.FromMinutes(5);

    private readonly IServiceScopeFactory _scopes;
    private readonly EdgeCertificateStore _store;
    private readonly SecretProtector _protector;
    private readonly TimeProvider _time;
    private readonly ILogger<DatabaseCertificateSource> _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private string _fingerprint = "";
    private int _disposed;

    public DatabaseCertificateSource(IServiceScopeFactory scopes, EdgeCertificateStore store, SecretProtector protector, EdgeChangeSignal signal,
        TimeProvider time, ILogger<DatabaseCertificateSource> logger)
    {
        ArgumentNullException.ThrowIfNull(signal);
        _scopes = scopes;
        _store = store;
        _protector = protector;
        _time = time;
        _logger = logger;
        signal.Subscribe(Invalidate);
    }

    public void Invalidate()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // A reload is pending either way.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await EnsureFallbackAsync(cancellationToken);
        await ReloadAsync(cancellationToken);
        _loop = Task.Run(RunAsync, CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            return; // a host whose start failed disposes its services, and a later StopAsync must not throw
        }
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stopping.Cancel();
        _stopping.Dispose();
        _wake.Dispose();
        _reloading.Dispose();
    }

    /// <summary>Reads the table and swaps the store's set if anything changed.</summary>
    public async Task ReloadAsync(CancellationToken ct)
    {
        await _reloading.WaitAsync(ct);
        try
        {
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            var rows = await db.Certificates.AsNoTracking()
                .Where(c => c.ChainPem != null && c.KeyEncrypted != null && c.Status != CertificateStatus.Failed)
                .Select(c => new { c.CertId, c.Domain, c.Source, c.ChainPem, c.KeyEncrypted })
                .ToListAsync(ct);
            // The chain itself, not a timestamp: two writes within one clock tick must not look like none.
            var fingerprint = string.Join(";", rows.OrderBy(r => r.CertId).Select(r => $"{r.CertId}:{r.ChainPem!.GetHashCode(StringComparison.Ordinal)}:{r.KeyEncrypted!.GetHashCode(StringComparison.Ordinal)}"));
            if (fingerprint == _fingerprint)
            {
                return;
            }
            var certificates = new List<EdgeServerCertificate>();
            EdgeServerCertificate? fallback = null;
            foreach (var row in rows)
            {
                try
                {
                    var loaded = CertificatePem.Load(row.Domain, row.Source == CertificateSource.Uploaded, row.ChainPem!, _protector.Unprotect(row.KeyEncrypted!));
                    if (row.Source == CertificateSource.SelfSigned)
                    {
                        fallback = row.Domain == FallbackName ? loaded : fallback;
                    }
                    else
                    {
                        certificates.Add(loaded);
                    }
                }
                catch (Exception e) when (e is CryptographicException or FormatException)
                {
                    // One unreadable row (a changed server secret, a hand edit) must not take the others down.
                    LogUnreadable(_logger, row.CertId, row.Domain, e);
                }
            }
            _store.Replace(certificates, fallback ?? CurrentFallback());
            _fingerprint = fingerprint;
            LogLoaded(_logger, certificates.Count);
        }
        finally
        {
            _reloading.Release();
        }
    }

    private EdgeServerCertificate? CurrentFallback() => _store.Fallback is { } certificate
        ? new EdgeServerCertificate(FallbackName, false, certificate, [])
        : null;

    private async Task EnsureFallbackAsync(CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        if (await db.Certificates.AnyAsync(c => c.Domain == FallbackName && c.Source == CertificateSource.SelfSigned, ct))
        {
            return;
        }
        var now = _time.GetUtcNow();
        var (chain, key, notBefore, notAfter) = CertificatePem.CreateSelfSigned(FallbackName, now);
        db.Certificates.Add(new Certificate
        {
            Domain = FallbackName,
            Status = CertificateStatus.Valid,
            Source = CertificateSource.SelfSigned,
            NotBefore = notBefore.UtcDateTime,
            NotAfter = notAfter.UtcDateTime,
            ChainPem = chain,
            KeyEncrypted = _protector.Protect(key),
            CreatedAt = now.UtcDateTime,
            UpdatedAt = now.UtcDateTime,
        });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Another node made it first (the unique name): theirs is as good, and is loaded next.
        }
    }

    private async Task RunAsync()
    {
        var ct = _stopping.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Periodic, ct);
                await Task.Delay(Coalesce, ct);
                await ReloadAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException)
            {
                // The certificates loaded last keep serving; the next change or the periodic check tries again.
                LogReloadFailed(_logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Edge certificates loaded: {Count} names")]
    private static partial void LogLoaded(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Certificate {CertId} for {Domain} cannot be read; it is not served")]
    private static partial void LogUnreadable(ILogger logger, int certId, string domain, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Edge certificates could not be reloaded; the previous ones stay")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception);
}
