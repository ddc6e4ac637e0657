namespace Pangolin.Protocol.Messages;

/// <summary>
/// Data of <c>newt/receive-bandwidth</c>: per-peer MB deltas of newt's client (Olm) tunnels. Our server logs and
/// ignores it; the record exists so the message parses.
/// </summary>
public sealed record ReceiveBandwidthData
{
    private readonly IReadOnlyList<Gerbil.PeerBandwidth>? _bandwidthData;

    public IReadOnlyList<Gerbil.PeerBandwidth> BandwidthData { get => _bandwidthData ?? []; init => _bandwidthData = value; }
}

/// <summary>
/// Data of <c>newt/wg/get-config</c>, sent for client tunnels (a Go map literal: <c>publicKey, port, chainId</c> in the
/// newest newt, without <c>chainId</c> before). Our server does not answer it.
/// </summary>
public sealed record WgGetConfigData
{
    public string PublicKey { get; init => field = value ?? ""; } = "";

    public int Port { get; init; }

    public string ChainId { get; init => field = value ?? ""; } = "";
}
