using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace Pangolin.Server.Apis;

/// <summary>
/// Errors are RFC 9457 problem details that also carry Pangolin's envelope fields
/// (<c>data: null, success: false, error: true, message, status</c>), so clients of either kind understand them.
/// </summary>
public static partial class Problems
{
    public static IServiceCollection AddPangolinProblems(this IServiceCollection services)
    {
        services.AddProblemDetails(o => o.CustomizeProblemDetails = context => Decorate(context.ProblemDetails, context.HttpContext));
        services.AddExceptionHandler<ApiExceptionHandler>();
        return services;
    }

    internal const string JsonBodyRequired = "A JSON request body is required: send a JSON object with Content-Type: application/json";

    internal const string JsonContentTypeRequired = "The request body must be JSON: send it with Content-Type: application/json";

    /// <summary>Writes a problem with the envelope fields.</summary>
    public static ValueTask WriteAsync(HttpContext context, int status, string message, IReadOnlyDictionary<string, string[]>? errors = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        return problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = errors is { Count: > 0 }
                ? new HttpValidationProblemDetails(errors.ToDictionary(e => e.Key, e => e.Value)) { Status = status, Detail = message }
                : new ProblemDetails { Status = status, Detail = message },
        });
    }

    private static void Decorate(ProblemDetails problem, HttpContext context)
    {
        problem.Status ??= context.Response.StatusCode;
        problem.Title ??= TitleFor(problem.Status.Value);
        if (problem is HttpValidationProblemDetails validation && validation.Errors.Count > 0)
        {
            // Not the vague "One or more validation errors occurred."; the detail says what is wrong.
            problem.Title = TitleFor(problem.Status.Value);
            // Keys as the names the client sent ("name", "targets.0.port", "sort_by"), messages as fragments after them.
            var queryNames = QueryNames(context);
            var errors = validation.Errors.ToDictionary(
                e => queryNames.TryGetValue(e.Key, out var query) ? query : JsonPath(e.Key),
                e => e.Value.Select(m => ValidationMessages.Normalize(m, LastSegment(e.Key))).ToArray());
            validation.Errors.Clear();
            foreach (var (key, messages) in errors)
            {
                validation.Errors[key] = messages;
            }
            problem.Detail ??= "Validation error: " + string.Join("; ", errors.SelectMany(e => e.Value.Select(m => $"{m} at \"{e.Key}\"")));
        }
        problem.Detail ??= problem.Status switch
        {
            // Status codes without a message of their own: routing's 415, 404 and 405 endpoints.
            StatusCodes.Status415UnsupportedMediaType => JsonContentTypeRequired,
            StatusCodes.Status404NotFound => $"No endpoint matches {context.Request.Method} {context.Request.Path}; check the path",
            StatusCodes.Status405MethodNotAllowed => $"{context.Request.Method} is not allowed on {context.Request.Path}; check the method",
            _ => problem.Title,
        };
        problem.Instance ??= context.Request.Path;
        problem.Extensions["data"] = null;
        problem.Extensions["success"] = false;
        problem.Extensions["error"] = true;
        problem.Extensions["message"] = problem.Detail;
        problem.Extensions.Remove("traceId");
    }

    private static string TitleFor(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };

    /// <summary>Query parameters bound with [AsParameters] are validated under their property names; the client sent these.</summary>
    private static Dictionary<string, string> QueryNames(HttpContext context) =>
        (context.GetEndpoint()?.Metadata.GetMetadata<MethodInfo>()?.GetParameters() ?? [])
            .Where(p => p.GetCustomAttribute<AsParametersAttribute>() is not null)
            .SelectMany(p => p.ParameterType.GetProperties())
            .Select(p => (p.Name, Query: p.GetCustomAttribute<FromQueryAttribute>()?.Name))
            .Where(p => p.Query is not null)
            .DistinctBy(p => p.Name)
            .ToDictionary(p => p.Name, p => p.Query!, StringComparer.Ordinal);

    internal static string JsonPath(string key) =>
        string.Join('.', key.Split('.').Select(s => s.Length == 0 ? s : JsonNamingPolicy.CamelCase.ConvertName(s.Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal))));

    private static string LastSegment(string key) => key[(key.LastIndexOf('.') + 1)..];

    /// <summary>
    /// Says what is wrong with a request body that could not be read as the expected JSON. <paramref name="bodyType"/>
    /// (the endpoint's body type) names the expected type where the serializer only names the record being built.
    /// </summary>
    internal static string DescribeJsonError(JsonException e, Type? bodyType = null)
    {
        // An Optional<T> field rethrows its inner error without a path: the serializer adds the field's path, and the
        // inner exception keeps the message and the path inside the field (e.g. "[0].name").
        var inner = e.InnerException as JsonException;
        var message = inner?.Message ?? e.Message;
        var path = JoinPath(FriendlyPath(e.Path), inner is null ? "" : FriendlyPath(inner.Path));
        var unknown = UnknownMemberRegex().Match(message);
        if (unknown.Success)
        {
            var field = path.Length > 0 ? path : unknown.Groups[1].Value;
            return $"Validation error: unknown field \"{field}\"; remove it (fields are case-sensitive)";
        }
        var missing = MissingRequiredRegex().Match(message);
        if (missing.Success)
        {
            return $"Validation error: {missing.Groups[1].Value} is required";
        }
        var conversion = ConversionRegex().Match(message);
        if (conversion.Success)
        {
            var expected = Describe(conversion.Groups[1].Value) ?? Describe(TypeAt(bodyType, path)) ?? "a value of another type";
            return path.Length > 0
                ? $"Validation error: expected {expected} at \"{path}\""
                : $"Validation error: the request body must be {(expected == "an object" ? "a JSON object" : expected)}";
        }
        if (message.Contains("null", StringComparison.OrdinalIgnoreCase) && path.Length > 0)
        {
            return $"Validation error: must not be null at \"{path}\"";
        }
        var where = e.LineNumber is { } line && e.BytePositionInLine is { } position ? $" (line {line + 1}, byte {position + 1})" : "";
        return $"Malformed JSON: the request body is not valid JSON{where}; send one JSON object";
    }

    private static string FriendlyPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "";
        }
        var p = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return p.Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal).TrimStart('.');
    }

    private static string JoinPath(string outer, string inner) => outer.Length == 0 ? inner : inner.Length == 0 ? outer : $"{outer}.{inner}";

    /// <summary>Describes a primitive CLR type named in a serializer message; null for other types.</summary>
    private static string? Describe(string clrType)
    {
        var t = clrType;
        foreach (var wrapper in new[] { "System.Nullable`1[", "Pangolin.Server.Optional`1[" })
        {
            if (t.StartsWith(wrapper, StringComparison.Ordinal))
            {
                t = t[wrapper.Length..^1];
            }
        }
        return t switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" or "System.Byte" => "an integer",
            "System.Double" or "System.Decimal" or "System.Single" => "a number",
            "System.Boolean" => "true or false",
            "System.String" => "a string",
            "System.DateTime" or "System.DateTimeOffset" => "a date and time such as 2026-01-31T12:00:00Z",
            _ when t.StartsWith("System.Collections.Generic.List`1[", StringComparison.Ordinal) || t.EndsWith("[]", StringComparison.Ordinal) => "an array",
            _ => null,
        };
    }

    private static string? Describe(Type? type) => type is null ? null
        : Describe(type.FullName ?? "") ?? (type != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ? "an array" : "an object");

    /// <summary>The type of the field at a JSON path ("targets.0.port") of a request type, without Optional or Nullable.</summary>
    private static Type? TypeAt(Type? type, string path)
    {
        type = Unwrap(type);
        foreach (var segment in path.Length == 0 ? [] : path.Split('.'))
        {
            if (type is null)
            {
                return null;
            }
            if (segment.All(char.IsAsciiDigit))
            {
                type = type.IsArray ? type.GetElementType()
                    : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
            }
            else
            {
                type = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)?.PropertyType;
            }
            type = Unwrap(type);
        }
        return type;
    }

    private static Type? Unwrap(Type? type)
    {
        while (type is { IsGenericType: true } && (type.GetGenericTypeDefinition() == typeof(Nullable<>) || type.GetGenericTypeDefinition() == typeof(Optional<>)))
        {
            type = type.GetGenericArguments()[0];
        }
        return type;
    }

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnknownMemberRegex();

    [GeneratedRegex("missing required properties including: '([^']*)'")]
    private static partial Regex MissingRequiredRegex();

    [GeneratedRegex(@"could not be converted to ([^\s.]+(\.[^\s.]+)*)\.")]
    private static partial Regex ConversionRegex();
}

/// <summary>Maps exceptions to problem details; only the unexpected become a 500, without a stack trace.</summary>
internal sealed partial class ApiExceptionHandler(ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var (status, message) = exception switch
        {
            ApiException api => (api.Status, api.Message),
            BadHttpRequestException { InnerException: JsonException json } => (StatusCodes.Status400BadRequest, Problems.DescribeJsonError(json, BodyType(httpContext))),
            BadHttpRequestException bad => (bad.StatusCode, Describe(bad)),
            JsonException json => (StatusCodes.Status400BadRequest, Problems.DescribeJsonError(json, BodyType(httpContext))),
            DbUpdateException db when IsUniqueViolation(db) => (StatusCodes.Status409Conflict, "A record with the same unique value already exists"),
            DbUpdateConcurrencyException => (StatusCodes.Status409Conflict, "The record was changed by another request; try again"),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => (499, "Client closed request"),
            _ => (StatusCodes.Status500InternalServerError, "Internal server error"),
        };
        if (status == StatusCodes.Status500InternalServerError)
        {
            LogUnhandled(logger, httpContext.Request.Method, httpContext.Request.Path, exception);
        }
        else
        {
            LogClientError(logger, status, httpContext.Request.Method, exception);
        }
        if (status == 499 || httpContext.Response.HasStarted)
        {
            return true;
        }
        if (exception is ApiException { RetryAfterSeconds: { } retryAfter })
        {
            httpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        await Problems.WriteAsync(httpContext, status, message, (exception as ApiException)?.Errors);
        return true;
    }

    // The exception handler middleware clears the endpoint before handlers run; its feature keeps it.
    private static Type? BodyType(HttpContext context) =>
        (context.Features.Get<IExceptionHandlerFeature>()?.Endpoint ?? context.GetEndpoint())?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType;

    private static string Describe(BadHttpRequestException bad) => bad.Message switch
    {
        // "Implicit body inferred for parameter ... but no body was provided" (also for a literal null body).
        var m when m.StartsWith("Implicit body inferred", StringComparison.Ordinal)
            || (m.StartsWith("Required parameter", StringComparison.Ordinal) && m.Contains("from body", StringComparison.Ordinal))
            => Problems.JsonBodyRequired,
        var m when m.StartsWith("Expected a supported JSON media type", StringComparison.Ordinal) => Problems.JsonContentTypeRequired,
        var m when m.StartsWith("Failed to bind parameter", StringComparison.Ordinal) => BindFailureMessage(m),
        var m when m.StartsWith("Required parameter", StringComparison.Ordinal) => BindFailureMessage(m),
        var m => m,
    };

    private static string BindFailureMessage(string m)
    {
        // e.g. Failed to bind parameter "int ruleId" from "abc". / ... "Nullable<DateTime> TimeStart" from "x".
        var match = BindFailureRegex().Match(m);
        if (!match.Success)
        {
            return m;
        }
        var type = match.Groups[1].Value;
        var optional = type.StartsWith("Nullable<", StringComparison.Ordinal) || type.EndsWith('?');
        type = type.StartsWith("Nullable<", StringComparison.Ordinal) ? type["Nullable<".Length..^1] : type.TrimEnd('?');
        var expected = type switch
        {
            // Ids in routes are positive; optional integers come from the query.
            "int" or "long" => optional ? "an integer" : "a positive integer",
            "bool" => "true or false",
            "double" or "decimal" or "float" => "a number",
            "DateTime" or "DateTimeOffset" => "a date and time such as 2026-01-31T12:00:00Z",
            _ => "a valid " + type,
        };
        return $"Validation error: \"{JsonNamingPolicy.CamelCase.ConvertName(match.Groups[2].Value)}\" must be {expected}";
    }

    private static bool IsUniqueViolation(DbUpdateException e) =>
        e.InnerException?.Message.Contains("UNIQUE constraint failed", StringComparison.Ordinal) == true // SQLite
        || e.InnerException?.GetType().GetProperty("SqlState")?.GetValue(e.InnerException) as string == "23505"; // PostgreSQL

    [GeneratedRegex("parameter \"([^ ]+) ([^\"]+)\"")]
    private static partial Regex BindFailureRegex();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Answered {Status} to a {Method} request that failed")]
    private static partial void LogClientError(ILogger logger, int status, string method, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception exception);
}
