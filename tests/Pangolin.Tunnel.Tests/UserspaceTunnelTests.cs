using System.Net;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel.Tests;

public sealed class UserspaceTunnelTests
{
    private static readonly IPAddress Address = IPAddress.Parse("100.89.137.4");

    [Fact]
    public async Task Dispose_is_idempotent_and_a_disposed_tunnels_port_can_be_bound_again()
    {
        var first = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = WgKey.GeneratePrivate(), Addresses = [Address] });
        first.Start();
        var port = first.ListenPort;
        Assert.NotEqual(0, port);

        await first.DisposeAsync();
        await first.DisposeAsync();

        await using var second = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = WgKey.GeneratePrivate(), ListenPort = port });
        second.Start();
        Assert.Equal(port, second.ListenPort);
        Assert.Throws<ObjectDisposedException>(first.Start);
        Assert.Throws<ObjectDisposedException>(() => first.GetConfiguration());
        Assert.Throws<ObjectDisposedException>(() => first.Configure(new DeviceUpdate()));
    }

    [Fact]
    public async Task A_tunnel_shows_its_key_port_and_addresses()
    {
        var privateKey = WgKey.GeneratePrivate();
        await using var tunnel = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = privateKey, Addresses = [Address] });
        tunnel.Start();

        var configuration = tunnel.GetConfiguration();
        Assert.Equal(privateKey, configuration.PrivateKey);
        Assert.Equal(tunnel.ListenPort, configuration.ListenPort);
        Assert.Equal(privateKey.PublicKey(), tunnel.PublicKey);
        Assert.Equal([Address], tunnel.Stack.Addresses);
        Assert.Equal(1280, tunnel.Mtu);
        Assert.Equal(1280, tunnel.Stack.Mtu);
    }

    [Fact]
    public async Task Packets_the_stack_sends_beyond_the_queue_to_the_device_are_dropped_and_counted()
    {
        // Not started: the device reads nothing, so the one-packet queue fills with the first datagram.
        await using var tunnel = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = WgKey.GeneratePrivate(), Addresses = [Address], QueueCapacity = 1 });
        using var socket = tunnel.Stack.BindUdp(new IPEndPoint(Address, 0));
        var destination = new IPEndPoint(IPAddress.Parse("100.89.137.1"), 9);

        socket.SendTo("one"u8, destination);
        socket.SendTo("two"u8, destination);
        socket.SendTo("three"u8, destination);

        Assert.Equal(2, tunnel.DroppedToDevice);
    }

    [Fact]
    public void A_tunnel_without_a_private_key_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = default }));
    }
}
