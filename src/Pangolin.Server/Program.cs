using Microsoft.Extensions.Options;
using Pangolin.Server;
using Pangolin.Server.Cli;
using Pangolin.Server.Configuration;

if (args.Length > 0 && args[0] == "admin")
{
    return await AdminCli.RunAsync(args[1..], Console.Out, Console.Error, Console.In);
}

// Settings live next to the binary (appsettings.json), in PANGOLIN_-prefixed environment variables and on the
// command line; relative paths such as the data folder resolve against the working directory.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddPangolin();
// A failed start is reported below in one line; the host's own report would repeat it with a stack trace.
builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level => level >= LogLevel.Information && level != LogLevel.Error);
try
{
    // Building resolves Kestrel's listeners, which reads (and so validates) the server options.
    await using var app = builder.Build();
    ConfigurationServices.ValidateAll(app.Services);
    app.UsePangolin();
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (e is OptionsValidationException || ConfigurationServices.IsBinderError(e))
{
    // One line that names the key, not a stack trace.
    await Console.Error.WriteLineAsync("pangolin: " + ConfigurationServices.Describe(e));
    return 2;
}
catch (Exception e) when (e is InvalidOperationException or IOException or Microsoft.Data.Sqlite.SqliteException or Npgsql.NpgsqlException)
{
    await Console.Error.WriteLineAsync("pangolin: could not start: " + e.Message);
    return 1;
}

/// <summary>The entry point, visible to the functional tests' WebApplicationFactory.</summary>
public partial class Program;
