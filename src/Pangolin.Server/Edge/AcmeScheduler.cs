using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge.Tls.Acme;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Edge;

/// <summary>
/// Issues and renews the ACME certificates of SSL resources: one per enabled SSL HTTP resource's host, or its domain's
/// <c>*.base</c> when the domain prefers a wildcard (dns-01 only, RFC 8555 §7.1.3). Runs after every change to the
/// resources or certificates and every <see cref="AcmeOptions.CheckIntervalMinutes"/>; renews once a third of a
/// certificate's lifetime is left, or 30 days of a longer one; a failure is recorded and retried with exponential backoff. Names an
/// uploaded certificate covers are left alone.
/// </summary>
public sealed partial class AcmeScheduler : BackgroundService
{
    internal static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromHours(24);
    private static readonly TimeSpan MinReorderInterval = TimeSpan.FromHours(1);
    private const int MaxErrorLength = 2000;
    private const string AccountKeySetting = "acme_account_key:";

    private readonly IServiceScopeFactory _scopes;
    private readonly AcmeOptions _options;
    private readonly Http01ChallengeStore _http01;
    private readonly SecretProtector _protector;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<AcmeScheduler> _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private AcmeClient? _client;
    private HttpClient? _http;

    public AcmeScheduler(IServiceScopeFactory scopes, IOptions<AcmeOptions> options, Http01ChallengeStore http01, SecretProtector protector,
        EdgeChangeSignal signal, TimeProvider time, IHostApplicationLifetime lifetime, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(signal);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _scopes = scopes;
        _options = options.Value;
        _http01 = http01;
        _protector = protector;
        _time = time;
        _lifetime = lifetime;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<AcmeScheduler>();
        signal.Subscribe(Wake);
    }

    private void Wake()
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
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override void Dispose()
    {
        _http?.Dispose();
        _wake.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }
        // http-01 answers come from this server's edge port: nothing is ordered before it listens.
        await WhenStartedAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan next;
            try
            {
                next = await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or InvalidOperationException or System.Data.Common.DbException or TimeoutException
                or HttpRequestException or AcmeException or CryptographicException)
            {
                // The account could not be set up, or the database failed: try again later, as after any failure.
                LogRunFailed(_logger, e);
                next = FirstBackoff;
            }
            await WaitAsync(next, stoppingToken);
        }
    }

    private async Task WhenStartedAsync(CancellationToken ct)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(ct);
    }

    /// <summary>Waits for a change, or <paramref name="delay"/> on the server's clock (so renewals follow a test's fake clock).</summary>
    private async Task WaitAsync(TimeSpan delay, CancellationToken ct)
    {
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var timer = Task.Delay(delay, _time, either.Token);
        var changed = _wake.WaitAsync(either.Token);
        await Task.WhenAny(timer, changed);
        await either.CancelAsync();
        await Task.WhenAll(timer, changed).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>One pass: orders what is due and returns how long until something is due next.</summary>
    internal async Task<TimeSpan> RunOnceAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var wanted = await WantedNamesAsync(ct);
        var next = TimeSpan.FromMinutes(_options.CheckIntervalMinutes);
        foreach (var (name, domainId) in wanted)
        {
            var due = await DueAsync(name, domainId, now, ct);
            if (due > TimeSpan.Zero)
            {
                next = due < next ? due : next;
                continue;
            }
            await IssueAsync(name, domainId, ct);
            // The row changed: the change signal wakes this loop again, which then sees the new state.
        }
        await MarkExpiredAsync(now, ct);
        return next < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : next;
    }

    /// <summary>Every name that should have an ACME certificate, with the domain it belongs to.</summary>
    private async Task<IReadOnlyList<(string Name, string DomainId)>> WantedNamesAsync(CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var rows = await (
            from r in db.Resources.AsNoTracking()
            join d in db.Domains.AsNoTracking() on r.DomainId equals d.DomainId
            where r.Enabled && r.Http && r.Ssl && r.FullDomain != null
            select new { r.FullDomain, d.DomainId, d.BaseDomain, d.PreferWildcardCert }).ToListAsync(ct);
        var now = _time.GetUtcNow().UtcDateTime;
        var uploaded = (await db.Certificates.AsNoTracking()
            .Where(c => c.Source == CertificateSource.Uploaded && c.NotAfter > now)
            .Select(c => c.Domain).ToListAsync(ct)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var row in rows)
        {
            var host = row.FullDomain!.Trim().ToLowerInvariant();
            var baseDomain = row.BaseDomain.ToLowerInvariant();
            // A wildcard covers one label under the base (RFC 6125 §6.4.3); the base itself and deeper names need their own.
            var name = row.PreferWildcardCert && host.EndsWith("." + baseDomain, StringComparison.Ordinal)
                && !host[..^(baseDomain.Length + 1)].Contains('.', StringComparison.Ordinal)
                ? "*." + baseDomain
                : host;
            if (Covered(uploaded, host))
            {
                continue;
            }
            names.TryAdd(name, row.DomainId);
        }
        return [.. names.Select(p => (p.Key, p.Value))];
    }

    private static bool Covered(HashSet<string> names, string host)
    {
        if (names.Contains(host))
        {
            return true;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && names.Contains("*" + host[dot..]);
    }

    /// <summary>How long until <paramref name="name"/> needs an order; zero or less: now.</summary>
    private async Task<TimeSpan> DueAsync(string name, string domainId, DateTimeOffset now, CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var row = await db.Certificates.AsNoTracking().FirstOrDefaultAsync(c => c.Domain == name && c.Source == CertificateSource.Acme, ct);
        if (row is null)
        {
            return TimeSpan.Zero;
        }
        var renewAt = row.NotBefore is { } from && row.NotAfter is { } until ? RenewalTime(from, until) : (DateTime?)null;
        if (row.AttemptCount > 0 && row.LastAttemptAt is { } last)
        {
            var retryAt = last + Backoff(row.AttemptCount);
            // A failed renewal of a certificate that still works is retried on the same schedule as a failed first order.
            return new DateTimeOffset(retryAt, TimeSpan.Zero) - now;
        }
        if (renewAt is { } at && row.Status == CertificateStatus.Valid)
        {
            // Never two orders for one name within an hour: a clock that disagrees with the CA's must not hammer it.
            var earliest = row.LastAttemptAt is { } previous && previous + MinReorderInterval > at ? previous + MinReorderInterval : at;
            return new DateTimeOffset(earliest, TimeSpan.Zero) - now;
        }
        return TimeSpan.Zero;
    }

    /// <summary>
    /// Renew once a third of the lifetime is left, and at the latest 30 days before the end: 30 days of a 90-day
    /// certificate, 2 of a 6-day one (a short-lived profile), 30 of a year-long one. Never "30 days" for a certificate
    /// shorter than 90 days: it would be due again as soon as it is issued.
    /// </summary>
    internal static DateTime RenewalTime(DateTime notBefore, DateTime notAfter)
    {
        var third = (notAfter - notBefore) / 3;
        return notAfter - (third < RenewBefore ? third : RenewBefore);
    }

    /// <summary>1 minute after the first failure, doubling up to a day.</summary>
    internal static TimeSpan Backoff(int attempts)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 20));
        var delay = FirstBackoff * factor;
        return delay < MaxBackoff ? delay : MaxBackoff;
    }

    private async Task IssueAsync(string name, string domainId, CancellationToken ct)
    {
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var now = _time.GetUtcNow().UtcDateTime;
        var row = await db.Certificates.FirstOrDefaultAsync(c => c.Domain == name && c.Source == CertificateSource.Acme, ct);
        if (row is null)
        {
            row = new Certificate
            {
                Domain = name,
                DomainId = domainId,
                Wildcard = wildcard,
                Status = CertificateStatus.Pending,
                Source = CertificateSource.Acme,
                CreatedAt = now,
                UpdatedAt = now,
            };
            db.Certificates.Add(row);
        }
        row.LastAttemptAt = now;
        await db.SaveChangesAsync(ct);

        LogOrdering(_logger, name);
        try
        {
            var client = await ClientAsync(ct);
            IAcmeChallengeResponder responder = wildcard
                ? new Dns01ChallengeResponder(_options.Dns01Hook is { Length: > 0 } hook
                    ? new ExecDnsProvider(hook, TimeSpan.FromSeconds(_options.Dns01HookTimeoutSeconds))
                    : throw new AcmeException($"{name} is a wildcard name, which only dns-01 can validate: set Acme:Dns01Hook"))
                : _http01;
            using var issued = await client.OrderCertificateAsync([name], responder, ct);
            var renewed = row.ChainPem is not null;
            row.ChainPem = issued.ChainPem;
            row.KeyEncrypted = _protector.Protect(issued.PrivateKeyPem);
            row.NotBefore = issued.NotBefore.UtcDateTime;
            row.NotAfter = issued.NotAfter.UtcDateTime;
            row.Status = CertificateStatus.Valid;
            row.AttemptCount = 0;
            row.LastError = null;
            row.RenewalCount += renewed ? 1 : 0;
            LogIssued(_logger, name, issued.NotAfter);
        }
        catch (Exception e) when (e is AcmeException or HttpRequestException or CryptographicException or ArgumentException
            || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            row.AttemptCount++;
            row.LastError = e.Message.Length > MaxErrorLength ? e.Message[..MaxErrorLength] : e.Message;
            // A certificate that still works keeps serving while its renewal is retried.
            row.Status = row.NotAfter is { } until && until > _time.GetUtcNow().UtcDateTime ? CertificateStatus.Valid : CertificateStatus.Failed;
            LogFailed(_logger, name, row.AttemptCount, Backoff(row.AttemptCount), e);
        }
        row.UpdatedAt = _time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(CancellationToken.None);
    }

    private async Task MarkExpiredAsync(DateTimeOffset now, CancellationToken ct)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var at = now.UtcDateTime;
        await db.Certificates
            .Where(c => c.Source != CertificateSource.SelfSigned && c.Status == CertificateStatus.Valid && c.NotAfter < at)
            .ExecuteUpdateAsync(u => u.SetProperty(c => c.Status, CertificateStatus.Expired).SetProperty(c => c.UpdatedAt, at), ct);
    }

    /// <summary>The ACME client of the stored account key (made and stored encrypted the first time), its account found or created.</summary>
    private async Task<AcmeClient> ClientAsync(CancellationToken ct)
    {
        if (_client is { AccountUrl: not null } ready)
        {
            return ready;
        }
        var directory = new Uri(_options.DirectoryUrl);
        var settingKey = AccountKeySetting + directory.AbsoluteUri;
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var stored = await db.ServerSettings.FirstOrDefaultAsync(s => s.Key == settingKey, ct);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (stored is null)
        {
            db.ServerSettings.Add(new ServerSetting { Key = settingKey, Value = _protector.Protect(key.ExportPkcs8PrivateKeyPem()) });
            await db.SaveChangesAsync(ct);
        }
        else
        {
            key.ImportFromPem(_protector.Unprotect(stored.Value));
        }
        _http ??= CreateHttpClient();
        // The client polls the CA on the real clock: a test's fake clock moves only renewals, not the CA's own pace.
        var client = new AcmeClient(directory, _http, key, _loggerFactory.CreateLogger<AcmeClient>(), TimeProvider.System);
        await client.CreateOrFindAccountAsync(_options.AcceptTermsOfService, _options.Email is { Length: > 0 } email ? email : null, ct);
        _client = client;
        return client;
    }

    private HttpClient CreateHttpClient()
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (_options.DirectoryTrustedRootsFile is { Length: > 0 } file)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(file);
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                // The system's roots, and these besides (a private CA's directory, or pebble's in tests).
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (errors == SslPolicyErrors.None)
                    {
                        return true;
                    }
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    using var presented = new X509Certificate2(certificate);
                    return chain.Build(presented);
                },
            };
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ACME: ordering a certificate for {Name}")]
    private static partial void LogOrdering(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "ACME: certificate for {Name} issued, valid until {NotAfter:O}")]
    private static partial void LogIssued(ILogger logger, string name, DateTimeOffset notAfter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ACME: the certificate for {Name} failed (attempt {Attempt}); next try in {Backoff}")]
    private static partial void LogFailed(ILogger logger, string name, int attempt, TimeSpan backoff, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ACME: the renewal pass failed; trying again shortly")]
    private static partial void LogRunFailed(ILogger logger, Exception exception);
}
