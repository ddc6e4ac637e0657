namespace Pangolin.Edge.Badger;

/// <summary>Who the access check let through, as the backend learns it (Remote-User, Remote-Email, Remote-Name, Remote-Role).</summary>
public sealed record EdgeIdentity(string? UserId, string? Username, string? Email, string? Name, string? Role);
