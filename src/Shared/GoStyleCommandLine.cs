using System.CommandLine;
using System.Reflection;

namespace Pangolin.Shared;

/// <summary>
/// What gerbil's and newt's command lines share, compiled into both (a linked source file: two small executables,
/// no library for three helpers): Go's flag spellings, the environment as a dictionary, and the version string.
/// </summary>
internal static class GoStyleCommandLine
{
    /// <summary>
    /// Go's flag package takes <c>-name</c> as well as <c>--name</c>, and scripts written for upstream use both:
    /// <c>-id x</c> and <c>-id=x</c> become <c>--id x</c> and <c>--id=x</c>. A flag's value is left alone, so
    /// <c>--secret -mtu</c> keeps its odd secret. (Aliases would do it too, but the help would list them instead.)
    /// </summary>
    public static List<string> GoSpellings(RootCommand root, IReadOnlyList<string> args)
    {
        var result = new List<string>(args.Count);
        var valueNext = false;
        var rest = false;
        foreach (var arg in args)
        {
            if (rest || valueNext)
            {
                result.Add(arg);
                valueNext = false;
                continue;
            }
            rest = arg == "--";
            var token = arg;
            if (arg.Length > 2 && arg[0] == '-' && arg[1] != '-' && IsKnown(root, "-" + arg.Split('=', 2)[0]))
            {
                token = "-" + arg;
            }
            var name = token.Split('=', 2)[0];
            valueNext = !token.Contains('=', StringComparison.Ordinal)
                && root.Options.Any(o => o is Option<string> or Option<string[]> && (o.Name == name || o.Aliases.Contains(name)));
            result.Add(token);
        }
        return result;
    }

    /// <summary>Reads the process environment into a dictionary (the parsers never read it themselves, for tests).</summary>
    public static Dictionary<string, string> ProcessEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value)
            {
                environment[key] = value;
            }
        }
        return environment;
    }

    /// <summary>The assembly's informational version without the source revision (<c>+sha</c>).</summary>
    public static string Version(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    private static bool IsKnown(RootCommand root, string name) => root.Options.Any(o => o.Name == name || o.Aliases.Contains(name));
}
