using System.Net;

namespace Pangolin.Edge.Tls.Acme;

/// <summary>
/// An ACME request or order failed. When the server said why, <see cref="ProblemType"/> and <see cref="Detail"/> carry
/// its problem document (RFC 8555 §6.7, RFC 9457), e.g. <c>urn:ietf:params:acme:error:unauthorized</c>.
/// </summary>
public sealed class AcmeException : Exception
{
    public AcmeException()
    {
    }

    public AcmeException(string message)
        : base(message)
    {
    }

    public AcmeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public AcmeException(string message, string? problemType, string? detail, HttpStatusCode? statusCode)
        : base(message)
    {
        ProblemType = problemType;
        Detail = detail;
        StatusCode = statusCode;
    }

    /// <summary>The problem's <c>type</c> URI, or null when the server sent no problem document.</summary>
    public string? ProblemType { get; }

    /// <summary>The problem's human-readable <c>detail</c>.</summary>
    public string? Detail { get; }

    /// <summary>The HTTP status of the response (or the problem's <c>status</c> for a failed challenge).</summary>
    public HttpStatusCode? StatusCode { get; }
}
