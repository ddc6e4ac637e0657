using System.CommandLine;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Data;
using Pangolin.Server.Sites;

namespace Pangolin.Server.Cli;

/// <summary>
/// <c>pangolin admin …</c>: maintenance that works on the database directly, whether the server runs or not
/// (upstream's pangctl). Configuration comes from the same appsettings.json and environment as the server.
/// </summary>
public static class AdminCli
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TextReader input)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var dataDir = new Option<string?>("--data-dir") { Description = "Data folder (App:DataDirectory)", Recursive = true };
        var provider = new Option<string?>("--provider") { Description = "Database provider: sqlite or postgres (Database:Provider)", Recursive = true };
        var connection = new Option<string?>("--connection-string") { Description = "Database connection string (Database:ConnectionString)", Recursive = true };

        var root = new RootCommand("Pangolin server administration: works on the database whether the server runs or not.");
        root.Options.Add(dataDir);
        root.Options.Add(provider);
        root.Options.Add(connection);

        var email = new Option<string>("--email") { Description = "The user's e-mail address", Required = true };
        var password = new Option<string>("--password") { Description = "The new password ('-' reads it from standard input)", Required = true };

        var setAdmin = new Command("set-admin-credentials", "Create the server admin, or set an existing admin's e-mail and password");
        setAdmin.Options.Add(email);
        setAdmin.Options.Add(password);
        setAdmin.SetAction((p, ct) => Run(p, ct, async (s, ct) =>
        {
            var db = s.GetRequiredService<PangolinDbContext>();
            var accounts = s.GetRequiredService<AccountService>();
            var address = AccountService.NormalizeEmail(p.GetValue(email)!);
            var secret = ReadPassword(p.GetValue(password)!, input);
            var admin = await db.Users.Where(u => u.ServerAdmin).OrderBy(u => u.DateCreated).FirstOrDefaultAsync(ct);
            var byEmail = await db.Users.FirstOrDefaultAsync(u => u.Email == address, ct);
            if (admin is null && byEmail is null)
            {
                await accounts.CreateInternalUserAsync(address, secret, serverAdmin: true, emailVerified: true, ct);
                await db.SetupTokens.Where(t => !t.Used).ExecuteDeleteAsync(ct);
            }
            else
            {
                var user = byEmail ?? admin!;
                if (byEmail is null)
                {
                    user.Email = address;
                    user.Username = address;
                }
                user.ServerAdmin = true;
                user.EmailVerified = true;
                await accounts.SetPasswordAsync(user, secret, ct);
                await db.Sessions.Where(x => x.UserId == user.UserId).ExecuteDeleteAsync(ct);
            }
            await db.SaveChangesAsync(ct);
            output.WriteLine($"Server admin credentials set for {address}");
        }));
        root.Subcommands.Add(setAdmin);

        var resetPassword = new Command("reset-password", "Set a user's password and end their sessions");
        resetPassword.Options.Add(email);
        resetPassword.Options.Add(password);
        resetPassword.SetAction((p, ct) => Run(p, ct, async (s, ct) =>
        {
            var db = s.GetRequiredService<PangolinDbContext>();
            var user = await FindUserAsync(db, p.GetValue(email)!, ct);
            await s.GetRequiredService<AccountService>().SetPasswordAsync(user, ReadPassword(p.GetValue(password)!, input), ct);
            await db.SaveChangesAsync(ct);
            await db.Sessions.Where(x => x.UserId == user.UserId).ExecuteDeleteAsync(ct);
            output.WriteLine($"Password reset for {user.Email}; their sessions were ended");
        }));
        root.Subcommands.Add(resetPassword);

        var disable2fa = new Command("disable-2fa", "Turn off a user's two-factor authentication (lost authenticator)");
        disable2fa.Options.Add(email);
        disable2fa.SetAction((p, ct) => Run(p, ct, async (s, ct) =>
        {
            var db = s.GetRequiredService<PangolinDbContext>();
            var user = await FindUserAsync(db, p.GetValue(email)!, ct);
            await s.GetRequiredService<AccountService>().DisableTwoFactorAsync(user, ct);
            await db.SaveChangesAsync(ct);
            output.WriteLine($"Two-factor authentication disabled for {user.Email}");
        }));
        root.Subcommands.Add(disable2fa);

        var listUsers = new Command("list-users", "List every user: id, e-mail, type, admin and 2FA state");
        listUsers.SetAction((p, ct) => Run(p, ct, async (s, ct) =>
        {
            var db = s.GetRequiredService<PangolinDbContext>();
            var users = await db.Users.AsNoTracking().OrderBy(u => u.Email).ToListAsync(ct);
            output.WriteLine($"{"USER ID",-16} {"EMAIL",-40} {"TYPE",-9} {"ADMIN",-6} {"2FA",-4} CREATED");
            foreach (var u in users)
            {
                output.WriteLine($"{u.UserId,-16} {u.Email,-40} {u.Type,-9} {(u.ServerAdmin ? "yes" : "no"),-6} {(u.TwoFactorEnabled ? "on" : "off"),-4} {u.DateCreated:u}");
            }
            output.WriteLine($"{users.Count} user(s)");
        }));
        root.Subcommands.Add(listUsers);

        var newSecret = new Option<string?>("--new") { Description = "The new secret (at least 32 characters); generated when omitted" };
        var oldSecret = new Option<string?>("--old") { Description = "The secret the data is encrypted with now; the configured one when omitted" };
        var rotate = new Command("rotate-server-secret", "Re-encrypt stored secrets under a new server secret (stop the server first, start it after)");
        rotate.Options.Add(newSecret);
        rotate.Options.Add(oldSecret);
        rotate.SetAction((p, ct) => Run(p, ct, async (s, ct) =>
        {
            var server = s.GetRequiredService<IOptions<ServerOptions>>().Value;
            var app = s.GetRequiredService<IOptions<AppOptions>>().Value;
            var current = p.GetValue(oldSecret) ?? ServerSecret.Resolve(server, app);
            var next = p.GetValue(newSecret) ?? Secrets.Token(48);
            if (next.Length < 32)
            {
                throw new CliException("--new must be at least 32 characters");
            }
            await ServerSecretRotation.RotateAsync(s.GetRequiredService<PangolinDbContext>(), current, next, ct);
            if (string.IsNullOrEmpty(server.Secret) && p.GetValue(oldSecret) is null)
            {
                ServerSecret.Write(ServerSecret.FilePath(app), next);
                output.WriteLine($"Server secret rotated; the new one is stored in {ServerSecret.FilePath(app)}. Restart the server so that it uses it.");
            }
            else
            {
                output.WriteLine("Server secret rotated. Set Server:Secret (or PANGOLIN_Server__Secret) to the new value before starting the server:");
                output.WriteLine(next);
            }
        }, migrateAndSeed: false));
        root.Subcommands.Add(rotate);

        // Needs neither the database nor the configuration: it only makes new values.
        var gerbilKeys = new Command("generate-gerbil-keys", "Print a new get-config signing key pair and control API token, for the server and its standalone gerbils");
        gerbilKeys.SetAction(_ =>
        {
            var (privateKey, publicKey) = GerbilConfigSigner.Generate();
            var token = Secrets.Token(48);
            output.WriteLine("# The server (appsettings.json, or PANGOLIN_Gerbil__ConfigSigningKey / PANGOLIN_Gerbil__ControlApiToken):");
            output.WriteLine($"Gerbil:ConfigSigningKey={privateKey}");
            output.WriteLine($"Gerbil:ControlApiToken={token}");
            output.WriteLine("# Each standalone gerbil's environment:");
            output.WriteLine($"REMOTE_CONFIG_SIGNING_KEY={publicKey}");
            output.WriteLine($"CONTROL_API_TOKEN={token}");
            return 0;
        });
        root.Subcommands.Add(gerbilKeys);

        var parse = root.Parse(args);
        parse.InvocationConfiguration.Output = output;
        parse.InvocationConfiguration.Error = error;
        return await parse.InvokeAsync();

        async Task<int> Run(ParseResult p, CancellationToken ct, Func<IServiceProvider, CancellationToken, Task> action, bool migrateAndSeed = true)
        {
            try
            {
                var overrides = new Dictionary<string, string?>();
                if (p.GetValue(dataDir) is { } d)
                {
                    overrides["App:DataDirectory"] = d;
                }
                if (p.GetValue(provider) is { } pr)
                {
                    overrides["Database:Provider"] = pr;
                }
                if (p.GetValue(connection) is { } c)
                {
                    overrides["Database:ConnectionString"] = c;
                }
                var builder = WebApplication.CreateSlimBuilder();
                builder.Configuration.AddEnvironmentVariables("PANGOLIN_");
                builder.Configuration.AddInMemoryCollection(overrides);
                builder.Logging.ClearProviders();
                builder.Services.AddPangolinServices();
                await using var app = builder.Build();
                await using var scope = app.Services.CreateAsyncScope();
                var services = scope.ServiceProvider;
                var db = services.GetRequiredService<PangolinDbContext>();
                var initializer = new DatabaseInitializer(db,
                    services.GetRequiredService<IOptions<DatabaseOptions>>().Value,
                    services.GetRequiredService<IOptions<DomainsOptions>>().Value,
                    migrateAndSeed ? services.GetRequiredService<SecretProtector>() : new SecretProtector(new string('x', 32)),
                    TimeProvider.System,
                    Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
                await initializer.MigrateAsync(ct);
                if (migrateAndSeed)
                {
                    await initializer.SeedAsync(ct);
                }
                await action(services, ct);
                return 0;
            }
            catch (Exception e) when (Describe(e) is { } message)
            {
                error.WriteLine("pangolin admin: " + message);
                return 1;
            }
        }
    }

    private static string? Describe(Exception e) => e switch
    {
        CliException or ApiException => e.Message,
        OptionsValidationException => ConfigurationServices.Describe(e),
        InvalidOperationException { Message: var m } when m.Contains("server secret", StringComparison.OrdinalIgnoreCase) => m,
        InvalidOperationException when ConfigurationServices.IsBinderError(e) => ConfigurationServices.Describe(e),
        CryptographicException => "the stored secrets cannot be decrypted with that server secret (" + e.Message + ")",
        DbUpdateException or Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException => "database error: " + (e.InnerException?.Message ?? e.Message),
        _ => null,
    };

    private static string ReadPassword(string value, TextReader input) =>
        value == "-" ? input.ReadLine()?.TrimEnd('\r', '\n') ?? throw new CliException("no password on standard input") : value;

    private static async Task<Pangolin.Data.Entities.User> FindUserAsync(PangolinDbContext db, string email, CancellationToken ct)
    {
        var address = AccountService.NormalizeEmail(email);
        return await db.Users.FirstOrDefaultAsync(u => u.Email == address, ct) ?? throw new CliException($"no user with the e-mail {address}");
    }
}

/// <summary>A CLI failure with a one-line message.</summary>
public sealed class CliException(string message) : Exception(message);
