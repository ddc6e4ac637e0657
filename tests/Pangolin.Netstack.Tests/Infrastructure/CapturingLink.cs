namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>A link that keeps every packet the stack sends, for tests that look at the bytes.</summary>
public sealed class CapturingLink(int mtu = 1420) : INetworkLink
{
    private readonly List<byte[]> _sent = [];

    public int Mtu { get; } = mtu;

    public IReadOnlyList<byte[]> Sent
    {
        get
        {
            lock (_sent)
            {
                return [.. _sent];
            }
        }
    }

    public void Send(ReadOnlySpan<byte> packet)
    {
        lock (_sent)
        {
            _sent.Add(packet.ToArray());
        }
    }
}
