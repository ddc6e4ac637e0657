using System.Net;

namespace Pangolin.Edge.Badger;

/// <summary>
/// The secrets behind a resource's sign-in methods, checked by the host (which holds them, hashed): HTTP Basic
/// credentials, share-link tokens and resource sessions. Every failure counts against the client's address, and a
/// client over its budget is refused before anything is checked.
/// </summary>
public interface IResourceAccess
{
    /// <summary>Checks an HTTP Basic credential (the base64 text after <c>Basic </c>) against the resource's.</summary>
    ValueTask<AccessResult> CheckHeaderAuthAsync(int resourceId, string credential, IPAddress client, CancellationToken ct);

    /// <summary>
    /// Checks a share-link token; with <paramref name="createSession"/>, a valid one also opens a resource session
    /// (its token in <see cref="AccessGrant.SessionToken"/>) so that the link's bearer stays signed in.
    /// </summary>
    ValueTask<AccessGrant> RedeemAccessTokenAsync(int resourceId, string tokenId, string token, bool createSession, IPAddress client, CancellationToken ct);

    /// <summary>
    /// Checks a resource session cookie's token: valid for this resource, not expired, and the way it was made still
    /// counts (the method on and its secret unchanged; for a platform session, the user still allowed).
    /// </summary>
    ValueTask<SessionCheck> CheckSessionAsync(EdgeHttpResource resource, string sessionToken, CancellationToken ct);

    /// <summary>
    /// Exchanges a sign-in's single-use request token (brought back from the sign-in page in the query) for a resource
    /// session; an unknown, used or expired token counts as a failure against the client's address.
    /// </summary>
    ValueTask<AccessGrant> ExchangeRequestTokenAsync(int resourceId, string requestToken, IPAddress client, CancellationToken ct);

    /// <summary>Ends a resource session (sign-out); unknown tokens are ignored.</summary>
    ValueTask EndSessionAsync(int resourceId, string sessionToken, CancellationToken ct);
}

public enum AccessResult
{
    Invalid,
    Valid,

    /// <summary>Too many failures from this client lately; nothing was checked.</summary>
    RateLimited,
}

/// <param name="SessionExpires">When the session ends; null for a browser session (the cookie has no expiry).</param>
public sealed record AccessGrant(AccessResult Result, string? SessionToken = null, DateTimeOffset? SessionExpires = null)
{
    public static AccessGrant Invalid { get; } = new(AccessResult.Invalid);

    public static AccessGrant RateLimited { get; } = new(AccessResult.RateLimited);
}

/// <param name="Identity">The signed-in user for a platform session; null for password, PIN, e-mail and share-link sessions.</param>
public sealed record SessionCheck(bool Valid, EdgeIdentity? Identity = null)
{
    public static SessionCheck No { get; } = new(false);
}
