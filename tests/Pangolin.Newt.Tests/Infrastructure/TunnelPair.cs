using System.Net;
using Pangolin.Netstack;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Infrastructure;

/// <summary>
/// Both ends of a site tunnel in one process: the exit node's stack (what the server connects from) and newt's stack
/// holding the site's tunnel IP, joined by an in-memory link each way.
/// </summary>
internal sealed class TunnelPair : IDisposable
{
    public static readonly IPAddress ServerAddress = IPAddress.Parse("100.89.137.1");
    public static readonly IPAddress TunnelAddress = IPAddress.Parse("100.89.137.4");

    private readonly PairedLink _toNewt;
    private readonly PairedLink _toServer;

    public TunnelPair()
    {
        (_toNewt, _toServer) = PairedLink.Create(out var server, out var newt);
        Server = server;
        Newt = newt;
        Server.AddAddress(ServerAddress);
        Newt.AddAddress(TunnelAddress);
    }

    /// <summary>The exit node's side.</summary>
    public NetworkStack Server { get; }

    /// <summary>newt's side, where the relays listen.</summary>
    public NetworkStack Newt { get; }

    /// <summary>Connects from the server's side to the tunnel IP, as the exit node does for a resource.</summary>
    public async Task<TcpStream> ConnectAsync(int internalPort) =>
        (TcpStream)await Server.ConnectTcpAsync(new IPEndPoint(TunnelAddress, internalPort), TestContext.Current.CancellationToken)
            .WaitAsync(Bounds.Step, TestContext.Current.CancellationToken);

    public void Dispose()
    {
        Newt.Dispose();
        Server.Dispose();
        _toNewt.Dispose();
        _toServer.Dispose();
    }
}

/// <summary>Upper bounds for waits: generous, never what a test asserts.</summary>
internal static class Bounds
{
    public static readonly TimeSpan Step = TimeSpan.FromSeconds(20);
    public static readonly TimeSpan Bulk = TimeSpan.FromSeconds(180);
}
