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

    /// <summary>Checks a resource session cookie's token: valid for this resource, not expired, its sign-in method still on.</summary>
    ValueTask<SessionCheck> CheckSessionAsync(int resourceId, string sessionToken, EdgeAccessPolicy policy, CancellationToken ct);
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
