using System.Net;

namespace Pangolin.Edge.Badger;

/// <summary>A host that keeps no secrets: every credential, token and session is refused (closed, never open).</summary>
internal sealed class NoResourceAccess : IResourceAccess
{
    public ValueTask<AccessResult> CheckHeaderAuthAsync(int resourceId, string credential, IPAddress client, CancellationToken ct) =>
        ValueTask.FromResult(AccessResult.Invalid);

    public ValueTask<AccessGrant> RedeemAccessTokenAsync(int resourceId, string tokenId, string token, bool createSession, IPAddress client, CancellationToken ct) =>
        ValueTask.FromResult(AccessGrant.Invalid);

    public ValueTask<SessionCheck> CheckSessionAsync(EdgeHttpResource resource, string sessionToken, CancellationToken ct) =>
        ValueTask.FromResult(SessionCheck.No);

    public ValueTask<AccessGrant> ExchangeRequestTokenAsync(int resourceId, string requestToken, IPAddress client, CancellationToken ct) =>
        ValueTask.FromResult(AccessGrant.Invalid);

    public ValueTask EndSessionAsync(int resourceId, string sessionToken, CancellationToken ct) => ValueTask.CompletedTask;
}
