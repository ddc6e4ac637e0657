namespace Pangolin.Edge.L4;

/// <summary>
/// A target stream that can end its sending direction (a TCP FIN) while still reading, so a client's half-close
/// reaches the target. <see cref="System.Net.Sockets.NetworkStream"/> is handled without it; a dialer that returns
/// another kind of stream (a userspace TCP connection) implements this, or a client's half-close stays at the edge
/// until the target ends its own side or the idle timeout does.
/// </summary>
public interface IHalfClosable
{
    /// <summary>Sends a FIN after what was written; the peer's data can still be read.</summary>
    void ShutdownSend();
}
