using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pangolin.Newt.Tests.Infrastructure;

/// <summary>A target on the host's loopback: an OS TCP listener running a handler per connection.</summary>
internal sealed class LoopbackTcpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, Task> _handler;
    private readonly List<Task> _connections = [];
    private readonly Lock _lock = new();
    private readonly Task _acceptLoop;
    private int _accepted;

    public LoopbackTcpServer(Func<Socket, Task> handler)
    {
        _handler = handler;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1024);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Echoes until the client's end of stream, then ends its own side.</summary>
    public static LoopbackTcpServer Echo() => new(async socket =>
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read));
        }
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>Sends a greeting naming itself, then echoes: tells two targets apart.</summary>
    public static LoopbackTcpServer Named(string name) => new(async socket =>
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(name + "\n"));
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            await socket.SendAsync(buffer.AsMemory(0, read));
        }
        socket.Shutdown(SocketShutdown.Send);
    });

    /// <summary>A port nothing listens on (bound, then closed): connecting to it is refused.</summary>
    public static int ClosedPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            lock (_lock)
            {
                _connections.Add(RunAsync(socket));
            }
        }
    }

    private async Task RunAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                await _handler(socket);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The relay reset the connection: some tests do that on purpose.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        await _acceptLoop;
        Task[] connections;
        lock (_lock)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections).WaitAsync(Bounds.Step);
    }
}
