using System.Text.RegularExpressions;

namespace Pangolin.Edge.Routing;

/// <summary>
/// A target's path match, with upstream's (Traefik v3's) meaning: exact is the whole path, prefix is segment-aware
/// (<c>/app</c> matches <c>/app</c> and <c>/app/x</c>, not <c>/apps</c>; a prefix ending in <c>/</c> matches any
/// continuation), regex is an unanchored search. No path matches everything.
/// </summary>
internal sealed class PathMatcher
{
    private static readonly TimeSpan RegexBudget = TimeSpan.FromMilliseconds(50);
    private readonly Regex? _regex;

    private PathMatcher(string? path, string? type, Regex? regex)
    {
        Path = path;
        Type = type;
        _regex = regex;
    }

    public static PathMatcher All { get; } = new(null, null, null);

    /// <summary>exact, prefix or regex; null for all paths.</summary>
    public string? Type { get; }

    /// <summary>The path (leading slash added for exact and prefix) or the pattern.</summary>
    public string? Path { get; }

    public Regex? Regex => _regex;

    /// <summary>The matcher for a target's path settings; null when they are invalid (the route is then left out).</summary>
    public static PathMatcher? Create(string? path, string? type)
    {
        if (string.IsNullOrEmpty(path) || string.IsNullOrEmpty(type))
        {
            return All;
        }
        switch (type)
        {
            case "exact":
            case "prefix":
                return new PathMatcher(path.StartsWith('/') ? path : "/" + path, type, null);
            case "regex":
                try
                {
                    return new PathMatcher(path, type, new Regex(path, RegexOptions.CultureInvariant, RegexBudget));
                }
                catch (ArgumentException)
                {
                    return null;
                }
            default:
                return null;
        }
    }

    public bool Matches(string requestPath)
    {
        switch (Type)
        {
            case null:
                return true;
            case "exact":
                return string.Equals(requestPath, Path, StringComparison.Ordinal);
            case "prefix":
                if (!requestPath.StartsWith(Path!, StringComparison.Ordinal))
                {
                    return false;
                }
                return Path!.EndsWith('/') || requestPath.Length == Path.Length || requestPath[Path.Length] == '/';
            default:
                try
                {
                    return _regex!.IsMatch(requestPath);
                }
                catch (RegexMatchTimeoutException)
                {
                    return false;
                }
        }
    }

    /// <summary>Higher is tried first among equal priorities: exact, prefix, regex, everything.</summary>
    public int Specificity => Type switch { "exact" => 3, "prefix" => 2, "regex" => 1, _ => 0 };
}

/// <summary>
/// A target's path rewrite, as upstream turns it into Traefik middlewares: <c>replacePathRegex</c> for exact,
/// prefix and regex rewrites, <c>stripPrefix</c> (+ <c>addPrefix</c>) for stripPrefix on a prefix match.
/// </summary>
internal sealed class PathRewriter
{
    private static readonly TimeSpan RegexBudget = TimeSpan.FromMilliseconds(50);
    private readonly Regex? _pattern;
    private readonly string _replacement;
    private readonly string? _stripPrefix;

    private PathRewriter(Regex? pattern, string replacement, string? stripPrefix)
    {
        _pattern = pattern;
        _replacement = replacement;
        _stripPrefix = stripPrefix;
    }

    /// <summary>The rewriter for a target's settings; null for none (or settings that do not make one).</summary>
    public static PathRewriter? Create(PathMatcher match, string? rewritePath, string? rewriteType)
    {
        ArgumentNullException.ThrowIfNull(match);
        if (rewritePath is null || match.Type is null || string.IsNullOrEmpty(rewriteType))
        {
            return null;
        }
        if (rewriteType != "regex" && rewritePath.Length > 0 && !rewritePath.StartsWith('/'))
        {
            rewritePath = "/" + rewritePath;
        }
        var path = match.Path!;
        var exact = "^" + Escape(path) + "$";
        try
        {
            return (rewriteType, match.Type) switch
            {
                ("exact", _) => Replace(exact, Literal(rewritePath)),
                ("prefix", "prefix") => Replace("^" + Escape(path) + "(.*)", Literal(rewritePath) + "$1"),
                ("prefix", "exact") => Replace(exact, Literal(rewritePath)),
                ("prefix", _) => Replace(path, rewritePath),
                ("regex", "regex") => Replace(path, rewritePath),
                ("regex", "prefix") => Replace("^" + Escape(path) + "(.*)", rewritePath),
                ("regex", _) => Replace(exact, rewritePath),
                ("stripPrefix", "prefix") => new PathRewriter(null, rewritePath is "" or "/" ? "" : rewritePath, path),
                ("stripPrefix", "exact") => Replace(exact, Literal(rewritePath.Length == 0 ? "/" : rewritePath)),
                ("stripPrefix", _) => Replace(path, Literal(rewritePath.Length == 0 ? "/" : rewritePath)),
                _ => null,
            };
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The path to send upstream.</summary>
    public string Rewrite(string requestPath)
    {
        if (_stripPrefix is { } prefix)
        {
            // Traefik's stripPrefix, then addPrefix: what is left always starts with a slash.
            var rest = requestPath.StartsWith(prefix, StringComparison.Ordinal) ? requestPath[prefix.Length..] : requestPath;
            if (!rest.StartsWith('/'))
            {
                rest = "/" + rest;
            }
            return _replacement.Length == 0 ? rest : _replacement.TrimEnd('/') + rest;
        }
        try
        {
            var result = _pattern!.Replace(requestPath, _replacement);
            return result.StartsWith('/') ? result : "/" + result;
        }
        catch (RegexMatchTimeoutException)
        {
            return requestPath;
        }
    }

    private static PathRewriter Replace(string pattern, string replacement) =>
        new(new Regex(pattern, RegexOptions.CultureInvariant, RegexBudget), replacement, null);

    private static string Escape(string path) => Regex.Escape(path);

    // A literal replacement must not have its '$' read as a group reference.
    private static string Literal(string replacement) => replacement.Replace("$", "$$", StringComparison.Ordinal);
}
