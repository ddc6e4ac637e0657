namespace Pangolin.WireGuard.Uapi;

/// <summary>Where the UAPI socket lives and the bounds that keep one client from hurting the others.</summary>
public sealed class UapiServerOptions
{
    /// <summary>Where wireguard-go puts its sockets and the only place `wg` looks for them.</summary>
    public const string DefaultSocketDirectory = "/var/run/wireguard";

    public string SocketDirectory { get; init; } = DefaultSocketDirectory;

    /// <summary>The longest line accepted, in bytes without its newline. The longest line wg writes is an
    /// endpoint with a scoped IPv6 address (under 100 bytes); a longer line fails its request with EINVAL.</summary>
    public int MaxLineLength { get; init; } = 4096;

    /// <summary>The largest set request, in bytes. 4 MiB holds about 180,000 allowed_ip lines; a larger request
    /// fails with E2BIG and is read to its end without being kept.</summary>
    public long MaxRequestBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Connections served at once; a connection beyond this is closed at once (wg reports an error).</summary>
    public int MaxConnections { get; init; } = 16;

    /// <summary>How long a connection may wait between operations before it is closed. wg opens a connection per
    /// operation, so this only ever closes connections left open.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one operation may take from its first line to the end of its answer, so that a client
    /// trickling a request (or not reading the answer) gives up its connection.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(SocketDirectory);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxLineLength, 128);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestBytes, MaxLineLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IdleTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero);
    }
}
