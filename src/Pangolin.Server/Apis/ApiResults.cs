using System.Reflection;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Pangolin.Server.Apis;

/// <summary>Pangolin's success envelope: <c>{data, success, error, message, status}</c>.</summary>
public sealed record ApiResponse<T>(T? Data, bool Success, bool Error, string Message, int Status);

/// <summary>A success in Pangolin's envelope, with its schema declared for OpenAPI.</summary>
public sealed class ApiResult<T>(T? data, string message, int status) : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult, IValueHttpResult
{
    public int? StatusCode => status;

    public object? Value => new ApiResponse<T>(data, true, false, message, status);

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Response.StatusCode = status;
        var json = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        return httpContext.Response.WriteAsJsonAsync(new ApiResponse<T>(data, true, false, message, status), json, httpContext.RequestAborted);
    }

#pragma warning disable CA1000 // IEndpointMetadataProvider requires a static member on this generic result type.
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(ApiResponse<T>), ["application/json"]));
    }
#pragma warning restore CA1000
}

/// <summary>Builds envelope results.</summary>
public static class Api
{
    public static ApiResult<T> Ok<T>(T data, string message) => new(data, message, StatusCodes.Status200OK);

    public static ApiResult<T> Created<T>(T data, string message) => new(data, message, StatusCodes.Status201Created);

    public static ApiResult<T> Accepted<T>(T data, string message) => new(data, message, StatusCodes.Status202Accepted);

    /// <summary>A success without data (<c>data: null</c>).</summary>
    public static ApiResult<object> Done(string message, int status = StatusCodes.Status200OK) => new(null, message, status);
}

/// <summary>An empty object, for responses whose data upstream is <c>{}</c>.</summary>
public sealed record Empty
{
    public static readonly Empty Value = new();
}

/// <summary>A client error with a message that says what to fix; becomes a problem details response.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>For a 429: the seconds to send as Retry-After (the exception handler resets headers set before it).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The errors by field (JSON names) when one field is to blame, for clients that show them at the field.</summary>
    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }

    public static ApiException BadRequest(string message) => new(StatusCodes.Status400BadRequest, message);

    /// <summary>A 400 that names the field to blame: "Validation error: {field} {problem}", and errors {field: [problem]}.</summary>
    public static ApiException Invalid(string field, string problem) =>
        new(StatusCodes.Status400BadRequest, $"Validation error: {field} {problem}") { Errors = new Dictionary<string, string[]> { [field] = [problem] } };

    public static ApiException Unauthorized(string message) => new(StatusCodes.Status401Unauthorized, message);

    public static ApiException Forbidden(string message) => new(StatusCodes.Status403Forbidden, message);

    public static ApiException NotFound(string message) => new(StatusCodes.Status404NotFound, message);

    public static ApiException Conflict(string message) => new(StatusCodes.Status409Conflict, message);

    public static ApiException TooManyRequests(string message) => new(StatusCodes.Status429TooManyRequests, message);

    public static ApiException Unavailable(string message) => new(StatusCodes.Status503ServiceUnavailable, message);
}
