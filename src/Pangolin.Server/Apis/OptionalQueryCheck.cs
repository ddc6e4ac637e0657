using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Microsoft.AspNetCore.Mvc;

namespace Pangolin.Server.Apis;

/// <summary>
/// Refuses an optional query parameter that does not parse (<c>?limit=abc</c>) with the message that names it, before
/// the endpoint runs. The handlers are generated at compile time (EnableRequestDelegateGenerator), and the generated
/// code answers such a value with a bare 400 instead of throwing as it does for every other binding failure; this
/// throws the same <see cref="BadHttpRequestException"/> that <see cref="Problems"/> turns into the named message.
/// </summary>
public sealed class OptionalQueryCheck(RequestDelegate next)
{
    private static readonly ConcurrentDictionary<MethodInfo, OptionalQuery[]> ByHandler = new();

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.QueryString.HasValue && context.GetEndpoint()?.Metadata.GetMetadata<MethodInfo>() is { } handler)
        {
            foreach (var parameter in ByHandler.GetOrAdd(handler, Find))
            {
                var value = context.Request.Query[parameter.QueryName];
                if (value.Count > 0 && !string.IsNullOrEmpty(value[0]) && !parameter.Parses(value[0]!))
                {
                    // The wording of the runtime's own binding failure, which Problems.BindFailureMessage reads.
                    throw new BadHttpRequestException(
                        $"Failed to bind parameter \"Nullable<{parameter.TypeName}> {parameter.Name}\" from \"{value[0]}\".");
                }
            }
        }
        return next(context);
    }

    private static OptionalQuery[] Find(MethodInfo handler)
    {
        var found = new List<OptionalQuery>();
        foreach (var parameter in handler.GetParameters())
        {
            if (parameter.GetCustomAttribute<AsParametersAttribute>() is not null)
            {
                foreach (var property in parameter.ParameterType.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    Add(found, property.PropertyType, property.Name, property.GetCustomAttribute<FromQueryAttribute>());
                }
            }
            else if (parameter.Name is not null && parameter.GetCustomAttribute<FromRouteAttribute>() is null)
            {
                Add(found, parameter.ParameterType, parameter.Name, parameter.GetCustomAttribute<FromQueryAttribute>());
            }
        }
        return [.. found];
    }

    private static void Add(List<OptionalQuery> found, Type type, string name, FromQueryAttribute? fromQuery)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying && Parsers.TryGetValue(underlying, out var parser))
        {
            found.Add(new OptionalQuery(fromQuery?.Name ?? name, name, parser.Keyword, parser.Parses));
        }
    }

    // Each type as the generated code parses it (IParsable with the invariant culture; DateTime as universal time),
    // with the name the runtime's message gives it.
    private static readonly Dictionary<Type, (string Keyword, Func<string, bool> Parses)> Parsers = new()
    {
        [typeof(int)] = ("int", s => int.TryParse(s, CultureInfo.InvariantCulture, out _)),
        [typeof(long)] = ("long", s => long.TryParse(s, CultureInfo.InvariantCulture, out _)),
        [typeof(double)] = ("double", s => double.TryParse(s, CultureInfo.InvariantCulture, out _)),
        [typeof(decimal)] = ("decimal", s => decimal.TryParse(s, CultureInfo.InvariantCulture, out _)),
        [typeof(bool)] = ("bool", s => bool.TryParse(s, out _)),
        [typeof(DateTime)] = ("DateTime", s => DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AllowWhiteSpaces, out _)),
    };

    private sealed record OptionalQuery(string QueryName, string Name, string TypeName, Func<string, bool> Parses);
}
