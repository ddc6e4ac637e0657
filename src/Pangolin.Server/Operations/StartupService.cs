using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Data;

namespace Pangolin.Server.Operations;

/// <summary>What start-up produced that others need: the setup token while no admin exists.</summary>
public sealed class SetupState
{
    public string? SetupToken { get; internal set; }
}

/// <summary>Migrates and seeds the database before the listeners open, then prints where the server listens.</summary>
internal sealed partial class StartupService(
    IServiceProvider services,
    IOptions<DatabaseOptions> database,
    IOptions<DomainsOptions> domains,
    SecretProtector protector,
    TimeProvider time,
    SetupState setup,
    ILogger<StartupService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var initializer = new DatabaseInitializer(db, database.Value, domains.Value, protector, time, logger);
        await initializer.MigrateAsync(cancellationToken);
        await initializer.SeedAsync(cancellationToken);
        setup.SetupToken = await initializer.IssueSetupTokenIfNeededAsync(cancellationToken);
        LogDatabase(logger, database.Value.Provider);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Database ready ({Provider})")]
    private static partial void LogDatabase(ILogger logger, string provider);
}

/// <summary>Removes expired sessions, codes, tokens and invitations every hour.</summary>
internal sealed partial class CleanupService(IServiceProvider services, TimeProvider time, ILogger<CleanupService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), time);
        try
        {
            do
            {
                await RunOnceAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
    }

    private async Task RunOnceAsync(CancellationToken stoppingToken)
    {
        try
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            var removed = await Cleanup.RunAsync(db, time.GetUtcNow().UtcDateTime, stoppingToken);
            if (removed > 0)
            {
                LogCleaned(logger, removed);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Removed {Count} expired rows")]
    private static partial void LogCleaned(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cleanup of expired rows failed; it is retried in an hour")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

internal static class Cleanup
{
    public static async Task<int> RunAsync(PangolinDbContext db, DateTime now, CancellationToken ct)
    {
        var n = 0;
        n += await db.Sessions.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.PasswordResetTokens.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.EmailVerificationCodes.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.UserInvites.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.NewtSessions.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.ResourceSessions.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        n += await db.ResourceOtps.Where(s => s.ExpiresAt <= now).ExecuteDeleteAsync(ct);
        return n;
    }
}
