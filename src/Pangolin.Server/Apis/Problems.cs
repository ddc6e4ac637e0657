using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;
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

    /// <summary>Writes a problem with the envelope fields.</summary>
    public static ValueTask WriteAsync(HttpContext context, int status, string message)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        return problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Detail = message },
        });
    }

    private static void Decorate(ProblemDetails problem, HttpContext context)
    {
        problem.Status ??= context.Response.StatusCode;
        problem.Title ??= TitleFor(problem.Status.Value);
        if (problem is HttpValidationProblemDetails validation && validation.Errors.Count > 0)
        {
            // Keys as the JSON names the client sent ("name", "targets.0.port"), messages as fragments after them.
            var errors = validation.Errors.ToDictionary(
                e => JsonPath(e.Key),
                e => e.Value.Select(m => ValidationMessages.Normalize(m, LastSegment(e.Key))).ToArray());
            validation.Errors.Clear();
            foreach (var (key, messages) in errors)
            {
                validation.Errors[key] = messages;
            }
            problem.Detail ??= "Validation error: " + string.Join("; ", errors.SelectMany(e => e.Value.Select(m => $"{m} at \"{e.Key}\"")));
        }
        problem.Detail ??= problem.Title;
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

    internal static string JsonPath(string key) =>
        string.Join('.', key.Split('.').Select(s => s.Length == 0 ? s : JsonNamingPolicy.CamelCase.ConvertName(s.Replace("[", ".", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal))));

    private static string LastSegment(string key) => key[(key.LastIndexOf('.') + 1)..];

    /// <summary>Says what is wrong with a request body that could not be read as the expected JSON.</summary>
    internal static string DescribeJsonError(JsonException e)
    {
        var path = FriendlyPath(e.Path);
        var unknown = UnknownMemberRegex().Match(e.Message);
        if (unknown.Success)
        {
            var field = path.Length > 0 ? path : unknown.Groups[1].Value;
            return $"Validation error: unknown field \"{field}\"; remove it (fields are case-sensitive)";
        }
        var missing = MissingRequiredRegex().Match(e.Message);
        if (missing.Success)
        {
            return $"Validation error: {missing.Groups[1].Value} is required";
        }
        var conversion = ConversionRegex().Match(e.Message);
        if (conversion.Success)
        {
            return $"Validation error: expected {Describe(conversion.Groups[1].Value)} at \"{path}\"";
        }
        if (e.Message.Contains("null", StringComparison.OrdinalIgnoreCase) && path.Length > 0)
        {
            return $"Validation error: \"{path}\" must not be null";
        }
        return path.Length > 0 ? $"Malformed JSON at \"{path}\"" : "Malformed JSON: the request body is not valid JSON";
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

    private static string Describe(string clrType)
    {
        var t = clrType.Replace("System.Nullable`1[", "", StringComparison.Ordinal).TrimEnd(']');
        return t switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "an integer",
            "System.Double" or "System.Decimal" or "System.Single" => "a number",
            "System.Boolean" => "true or false",
            "System.String" => "a string",
            _ when t.Contains("List", StringComparison.Ordinal) || t.EndsWith("[]", StringComparison.Ordinal) => "an array",
            _ => "an object",
        };
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
            BadHttpRequestException { InnerException: JsonException json } => (StatusCodes.Status400BadRequest, Problems.DescribeJsonError(json)),
            BadHttpRequestException bad => (bad.StatusCode, Describe(bad)),
            JsonException json => (StatusCodes.Status400BadRequest, Problems.DescribeJsonError(json)),
            DbUpdateException db when IsUniqueViolation(db) => (StatusCodes.Status409Conflict, "A record with the same unique value already exists"),
            DbUpdateConcurrencyException => (StatusCodes.Status409Conflict, "The record was changed by another request; try again"),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => (499, "Client closed request"),
            _ => (StatusCodes.Status500InternalServerError, "Internal server error"),
        };
        if (status == StatusCodes.Status500InternalServerError)
        {
            LogUnhandled(logger, httpContext.Request.Method, httpContext.Request.Path, exception);
        }
        if (status == 499 || httpContext.Response.HasStarted)
        {
            return true;
        }
        if (exception is ApiException { RetryAfterSeconds: { } retryAfter })
        {
            httpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        await Problems.WriteAsync(httpContext, status, message);
        return true;
    }

    private static string Describe(BadHttpRequestException bad) => bad.Message switch
    {
        var m when m.StartsWith("Required parameter", StringComparison.Ordinal) && m.Contains("from body", StringComparison.Ordinal)
            => "A JSON request body is required",
        var m when m.StartsWith("Expected a supported JSON media type", StringComparison.Ordinal)
            => "The request body must be JSON (Content-Type: application/json)",
        var m when m.StartsWith("Failed to bind parameter", StringComparison.Ordinal) => RouteValueMessage(m),
        var m when m.StartsWith("Required parameter", StringComparison.Ordinal) => RouteValueMessage(m),
        var m => m,
    };

    private static string RouteValueMessage(string m)
    {
        // e.g. Failed to bind parameter "int siteId" from "abc".
        var match = BindFailureRegex().Match(m);
        return match.Success ? $"Validation error: \"{match.Groups[2].Value}\" must be {(match.Groups[1].Value.StartsWith("int", StringComparison.Ordinal) ? "a positive integer" : "valid")}" : m;
    }

    private static bool IsUniqueViolation(DbUpdateException e) =>
        e.InnerException?.Message.Contains("UNIQUE constraint failed", StringComparison.Ordinal) == true // SQLite
        || e.InnerException?.GetType().GetProperty("SqlState")?.GetValue(e.InnerException) as string == "23505"; // PostgreSQL

    [GeneratedRegex("parameter \"([^ ]+) ([^\"]+)\"")]
    private static partial Regex BindFailureRegex();

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception exception);
}
