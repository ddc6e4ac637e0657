using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Data;

namespace Pangolin.Server.Cli;

/// <summary>Re-encrypts every value protected by the server secret, in one transaction.</summary>
public static class ServerSecretRotation
{
    public static async Task RotateAsync(PangolinDbContext db, string currentSecret, string newSecret, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var old = new SecretProtector(currentSecret);
        var next = new SecretProtector(newSecret);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var check = await db.ServerSettings.FirstOrDefaultAsync(s => s.Key == DatabaseInitializer.SecretCheckKey, ct);
        if (check is not null && !old.Verifies(check.Value))
        {
            throw new CliException("the current server secret does not match this database; pass the one it was set up with as --old");
        }
        foreach (var user in await db.Users.Where(u => u.TwoFactorSecret != null).ToListAsync(ct))
        {
            user.TwoFactorSecret = next.Protect(old.Unprotect(user.TwoFactorSecret!));
        }
        foreach (var node in await db.ExitNodes.Where(n => n.PrivateKeyProtected != null).ToListAsync(ct))
        {
            node.PrivateKeyProtected = next.Protect(old.Unprotect(node.PrivateKeyProtected!));
        }
        if (check is null)
        {
            db.ServerSettings.Add(new ServerSetting { Key = DatabaseInitializer.SecretCheckKey, Value = next.CheckValue() });
        }
        else
        {
            check.Value = next.CheckValue();
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }
}
