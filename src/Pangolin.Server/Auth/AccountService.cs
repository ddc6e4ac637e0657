using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Apis;
using Pangolin.Server.Configuration;
using Pangolin.Server.Email;

namespace Pangolin.Server.Auth;

/// <summary>Account operations shared by the auth endpoints and the admin CLI.</summary>
public sealed class AccountService(
    PangolinDbContext db,
    PasswordHasher hasher,
    TwoFactor totp,
    SecretProtector protector,
    EmailOutbox email,
    TimeProvider time,
    IOptions<AppOptions> app)
{
    private static readonly TimeSpan EmailCodeLifetime = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan ResetTokenLifetime = TimeSpan.FromHours(1);

    public static string NormalizeEmail(string email) => email.Trim().ToLowerInvariant();

    public Task<User?> FindInternalUserAsync(string email, CancellationToken ct)
    {
        var normalized = NormalizeEmail(email);
        return db.Users.FirstOrDefaultAsync(u => u.Email == normalized && u.Type == "internal", ct);
    }

    /// <summary>Creates an internal user; throws 409 when the e-mail is taken and 400 when the password is weak.</summary>
    public async Task<User> CreateInternalUserAsync(string email, string password, bool serverAdmin, bool emailVerified, CancellationToken ct)
    {
        var normalized = NormalizeEmail(email);
        if (PasswordPolicy.Check(password) is { } weak)
        {
            throw ApiException.BadRequest(weak);
        }
        if (await db.Users.AnyAsync(u => u.Email == normalized, ct))
        {
            throw ApiException.Conflict("A user with that email address already exists");
        }
        var now = time.GetUtcNow().UtcDateTime;
        var user = new User
        {
            UserId = Secrets.Id(15),
            Email = normalized,
            Username = normalized,
            Type = "internal",
            PasswordHash = await hasher.HashAsync(password, ct),
            ServerAdmin = serverAdmin,
            EmailVerified = emailVerified,
            DateCreated = now,
            LastPasswordChange = now,
        };
        db.Users.Add(user);
        return user;
    }

    public async Task SetPasswordAsync(User user, string password, CancellationToken ct)
    {
        if (PasswordPolicy.Check(password) is { } weak)
        {
            throw ApiException.BadRequest(weak);
        }
        user.PasswordHash = await hasher.HashAsync(password, ct);
        // A new password spends every outstanding reset link.
        await db.PasswordResetTokens.Where(t => t.UserId == user.UserId).ExecuteDeleteAsync(ct);
        user.LastPasswordChange = time.GetUtcNow().UtcDateTime;
    }

    /// <summary>
    /// Checks a TOTP code or, failing that, a backup code (consumed on use). The accepted TOTP step is
    /// claimed at once so the same code cannot be used again; other changes are saved by the caller.
    /// </summary>
    public async Task<bool> VerifySecondFactorAsync(User user, string code, CancellationToken ct)
    {
        if (!user.TwoFactorEnabled || user.TwoFactorSecret is null)
        {
            return false;
        }
        var secret = protector.Unprotect(user.TwoFactorSecret);
        if (totp.Verify(secret, code, user.TwoFactorLastStep) is { } step)
        {
            // Claim the step in one statement, so that requests racing with the same code cannot all pass.
            var claimed = await db.Users
                .Where(u => u.UserId == user.UserId && (u.TwoFactorLastStep == null || u.TwoFactorLastStep < step))
                .ExecuteUpdateAsync(u => u.SetProperty(x => x.TwoFactorLastStep, step), ct);
            if (claimed == 0)
            {
                return false;
            }
            // Keep the copy in step without the caller's save writing it again over a newer claim.
            user.TwoFactorLastStep = step;
            var entry = db.Entry(user);
            if (entry.State != EntityState.Detached)
            {
                entry.Property(u => u.TwoFactorLastStep).IsModified = false;
            }
            return true;
        }
        var candidate = code.Trim().ToLowerInvariant();
        if (candidate.Length != 10)
        {
            return false;
        }
        foreach (var backup in await db.TwoFactorBackupCodes.Where(c => c.UserId == user.UserId).ToListAsync(ct))
        {
            if (await hasher.VerifyAsync(candidate, backup.CodeHash, ct))
            {
                db.TwoFactorBackupCodes.Remove(backup);
                return true;
            }
        }
        return false;
    }

    /// <summary>Starts TOTP enrolment: a new secret, stored encrypted, not yet enabled.</summary>
    public (string Secret, string Uri) BeginTwoFactor(User user)
    {
        var secret = TwoFactor.NewSecret();
        user.TwoFactorSecret = protector.Protect(secret);
        user.TwoFactorLastStep = null;
        return (secret, TwoFactor.Uri(secret, user.Email));
    }

    /// <summary>The secret of an enrolment begun and not finished, to show again; null when there is none.</summary>
    public (string Secret, string Uri)? PendingTwoFactor(User user)
    {
        if (user.TwoFactorEnabled || user.TwoFactorSecret is null)
        {
            return null;
        }
        var secret = protector.Unprotect(user.TwoFactorSecret);
        return (secret, TwoFactor.Uri(secret, user.Email));
    }

    /// <summary>Finishes enrolment when the code matches the pending secret; returns the backup codes (shown once).</summary>
    public async Task<IReadOnlyList<string>?> CompleteTwoFactorAsync(User user, string code, CancellationToken ct)
    {
        if (user.TwoFactorEnabled)
        {
            throw ApiException.BadRequest("Two-factor authentication is already enabled");
        }
        if (user.TwoFactorSecret is null)
        {
            throw ApiException.BadRequest("Request a two-factor secret first (POST /auth/2fa/request)");
        }
        if (totp.Verify(protector.Unprotect(user.TwoFactorSecret), code, null) is not { } step)
        {
            return null;
        }
        user.TwoFactorEnabled = true;
        user.TwoFactorSetupRequested = false;
        user.TwoFactorLastStep = step;
        await db.TwoFactorBackupCodes.Where(c => c.UserId == user.UserId).ExecuteDeleteAsync(ct);
        var codes = new List<string>(TwoFactor.BackupCodeCount);
        for (var i = 0; i < TwoFactor.BackupCodeCount; i++)
        {
            var backup = TwoFactor.NewBackupCode();
            codes.Add(backup);
            db.TwoFactorBackupCodes.Add(new TwoFactorBackupCode { UserId = user.UserId, CodeHash = await hasher.HashAsync(backup, ct) });
        }
        return codes;
    }

    public async Task DisableTwoFactorAsync(User user, CancellationToken ct)
    {
        user.TwoFactorEnabled = false;
        user.TwoFactorSecret = null;
        user.TwoFactorLastStep = null;
        await db.TwoFactorBackupCodes.Where(c => c.UserId == user.UserId).ExecuteDeleteAsync(ct);
    }

    /// <summary>Queues an e-mail with a fresh verification code (replacing older ones).</summary>
    public async Task SendVerificationCodeAsync(User user, CancellationToken ct)
    {
        RequireEmail();
        var code = Secrets.Digits(8);
        await db.EmailVerificationCodes.Where(c => c.UserId == user.UserId).ExecuteDeleteAsync(ct);
        db.EmailVerificationCodes.Add(new EmailVerificationCode
        {
            UserId = user.UserId,
            Email = user.Email,
            CodeHash = await hasher.HashAsync(code, ct),
            ExpiresAt = time.GetUtcNow().UtcDateTime + EmailCodeLifetime,
        });
        await db.SaveChangesAsync(ct);
        email.Enqueue(new EmailMessage(user.Email, "Your Pangolin verification code",
            $"Your verification code is {code}\n\nIt expires in {EmailCodeLifetime.TotalMinutes:0} minutes. If you did not sign up, ignore this e-mail."));
    }

    public async Task<bool> VerifyEmailCodeAsync(User user, string code, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var candidates = await db.EmailVerificationCodes
            .Where(c => c.UserId == user.UserId && c.Email == user.Email && c.ExpiresAt > now)
            .ToListAsync(ct);
        foreach (var candidate in candidates)
        {
            if (await hasher.VerifyAsync(code.Trim(), candidate.CodeHash, ct))
            {
                user.EmailVerified = true;
                await db.EmailVerificationCodes.Where(c => c.UserId == user.UserId).ExecuteDeleteAsync(ct);
                return true;
            }
        }
        return false;
    }

    /// <summary>Creates a reset token and queues an e-mail with a link to it; the token is stored as SHA-256.</summary>
    public async Task SendPasswordResetAsync(User user, CancellationToken ct)
    {
        RequireEmail();
        var token = Secrets.Token(32);
        await db.PasswordResetTokens.Where(t => t.UserId == user.UserId).ExecuteDeleteAsync(ct);
        db.PasswordResetTokens.Add(new PasswordResetToken
        {
            UserId = user.UserId,
            Email = user.Email,
            TokenHash = Secrets.Sha256Hex(token),
            ExpiresAt = time.GetUtcNow().UtcDateTime + ResetTokenLifetime,
        });
        await db.SaveChangesAsync(ct);
        var link = $"{app.Value.DashboardUrl.TrimEnd('/')}/auth/reset-password?email={Uri.EscapeDataString(user.Email)}&token={token}";
        email.Enqueue(new EmailMessage(user.Email, "Reset your Pangolin password",
            $"Someone asked to reset the password of {user.Email}.\n\nOpen this link within an hour to choose a new one:\n{link}\n\nOr enter this token: {token}\n\nIf it was not you, ignore this e-mail; your password stays as it is."));
    }

    /// <summary>Whether a reset token is valid for the user; it is spent by <see cref="SetPasswordAsync"/>, not here, so a wrong second factor does not cost the user their e-mail.</summary>
    public async Task<bool> MatchesResetTokenAsync(User user, string token, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var rows = await db.PasswordResetTokens.Where(t => t.UserId == user.UserId && t.ExpiresAt > now).ToListAsync(ct);
        var hash = Secrets.Sha256Hex(token.Trim());
        var match = rows.FirstOrDefault(r => Secrets.FixedTimeEquals(r.TokenHash, hash));
        return match is not null;
    }

    public void RequireEmail()
    {
        if (!email.IsConfigured)
        {
            throw ApiException.Unavailable("E-mail is not configured on this server (Email:SmtpHost, Email:NoReply); ask an administrator");
        }
    }

    /// <summary>Tells the owner about a change already made; sent after the response, when e-mail is configured.</summary>
    public void Notify(User user, string subject, string text)
    {
        if (email.IsConfigured)
        {
            email.Enqueue(new EmailMessage(user.Email, subject, text));
        }
    }
}
