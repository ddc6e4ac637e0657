using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Net;

/// <summary>The UDP transport on real sockets: loopback in this namespace, and veth pairs between two namespaces.</summary>
public sealed class LinuxUdpTransportTests
{
    private const int BufferSize = 2048;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    public static TheoryData<bool, bool> Offloads => new()
    {
        { false, false },
        { true, false },
        { false, true },
        { true, true },
    };

    [Theory]
    [MemberData(nameof(Offloads))]
    public void A_batch_crosses_IPv4_loopback_intact_with_its_source(bool segmentation, bool coalescing)
    {
        using var sender = Bind(segmentation, coalescing);
        using var receiver = Bind(segmentation, coalescing);
        AssertBatchArrives(sender, receiver, IPAddress.Loopback, count: 40, sizes: i => 100 + (i * 7));
    }

    [Theory]
    [MemberData(nameof(Offloads))]
    public void A_batch_crosses_IPv6_loopback_intact_with_its_source(bool segmentation, bool coalescing)
    {
        using var sender = Bind(segmentation, coalescing);
        using var receiver = Bind(segmentation, coalescing);
        AssertBatchArrives(sender, receiver, IPAddress.IPv6Loopback, count: 40, sizes: i => 1452 - i);
    }

    [Theory]
    [MemberData(nameof(Offloads))]
    public void Runs_of_equal_sizes_with_shorter_ends_and_batches_longer_than_64_arrive_as_sent(bool segmentation, bool coalescing)
    {
        using var sender = Bind(segmentation, coalescing);
        using var receiver = Bind(segmentation, coalescing);
        Assert.Equal(segmentation, sender.SegmentationOffload);
        Assert.Equal(coalescing, receiver.ReceiveOffload);
        // Runs of 1452-byte datagrams broken by short ones, an empty one, 150 in all (more than one batch of 64).
        static int Size(int i) => (i % 23) switch
        {
            22 => 60,
            21 => 0,
            _ => 1452,
        };
        AssertBatchArrives(sender, receiver, IPAddress.Loopback, count: 150, sizes: Size);
        AssertBatchArrives(sender, receiver, IPAddress.IPv6Loopback, count: 150, sizes: Size);
        // Loopback hands a segmented send over whole: coalesced exactly when both ends offload.
        Assert.Equal(segmentation && coalescing, receiver.CoalescedMessages > 0);
    }

    [Fact]
    public void Port_zero_binds_an_ephemeral_port_and_reports_it()
    {
        using var transport = LinuxUdpTransport.Bind(0);

        Assert.InRange(transport.Port, 1, 65535);
        Assert.True(transport.IsDualStack);
        using var client = new UdpClient(AddressFamily.InterNetwork);
        client.Send([1, 2, 3], new IPEndPoint(IPAddress.Loopback, transport.Port));
        var (data, source) = ReceiveOne(transport);
        Assert.Equal(new byte[] { 1, 2, 3 }, data);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)client.Client.LocalEndPoint!).Port), source.ToIPEndPoint());
    }

    [Fact]
    public void Binding_a_port_in_use_fails_with_the_system_call_named()
    {
        using var first = LinuxUdpTransport.Bind(0);

        var error = Assert.Throws<SystemCallException>(() => LinuxUdpTransport.Bind(first.Port));

        Assert.StartsWith("bind(", error.Message, StringComparison.Ordinal);
        Assert.Equal(98, error.Errno); // EADDRINUSE
    }

    [Fact]
    public void The_socket_buffers_are_at_least_the_sizes_asked_for()
    {
        using var transport = LinuxUdpTransport.Bind(0);
        Assert.True(transport.ReceiveBufferBytes >= 8 << 20, $"SO_RCVBUF is {transport.ReceiveBufferBytes}.");
        Assert.True(transport.SendBufferBytes >= 8 << 20, $"SO_SNDBUF is {transport.SendBufferBytes}.");

        // Past net.core.rmem_max, which only SO_RCVBUFFORCE can exceed.
        var ceiling = int.Parse(File.ReadAllText("/proc/sys/net/core/rmem_max").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var large = LinuxUdpTransport.Bind(0, receiveBufferBytes: ceiling + (1 << 20), sendBufferBytes: 1 << 20);
        Assert.True(large.ReceiveBufferBytes >= ceiling + (1 << 20), $"SO_RCVBUF is {large.ReceiveBufferBytes}, rmem_max {ceiling}.");
        Assert.True(large.SendBufferBytes >= 1 << 20);
    }

    [Fact]
    public void SetFwMark_sets_and_clears_SO_MARK()
    {
        using var transport = LinuxUdpTransport.Bind(0);
        Assert.Equal(0, transport.FwMark);

        transport.SetFwMark(0x51820);
        Assert.Equal(0x51820, transport.FwMark);

        transport.SetFwMark(0);
        Assert.Equal(0, transport.FwMark);
    }

    [Fact]
    public void Dispose_unblocks_a_Receive_waiting_for_datagrams_within_a_second()
    {
        var transport = LinuxUdpTransport.Bind(0);
        using var watchdog = Watchdog(transport);
        Exception? thrown = null;
        var receiver = new Thread(() =>
        {
            var (buffers, sizes, sources) = Buffers(8);
            try
            {
                transport.Receive(buffers, sizes, sources);
            }
            catch (Exception exception)
            {
                thrown = exception;
            }
        })
        {
            Name = "pwudp-blocked",
            IsBackground = true,
        };
        receiver.Start();
        Assert.True(Eventually(() => IsBlockedInPoll("pwudp-blocked")), "The receiver never blocked in poll.");

        var stopwatch = Stopwatch.StartNew();
        transport.Dispose();

        Assert.True(receiver.Join(TimeSpan.FromSeconds(1)), "Receive was still blocked a second after Dispose.");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1));
        Assert.IsType<ObjectDisposedException>(thrown);
        var (more, moreSizes, moreSources) = Buffers(1);
        Assert.Throws<ObjectDisposedException>(() => transport.Receive(more, moreSizes, moreSources));
        Assert.Throws<ObjectDisposedException>(() => transport.Send(more, [0], [1], 1, UdpEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Loopback, 9))));
    }

    [Fact]
    public void A_datagram_too_long_for_its_buffer_is_dropped_and_the_others_are_kept_in_order()
    {
        using var sender = LinuxUdpTransport.Bind(0);
        using var receiver = LinuxUdpTransport.Bind(0);
        using var watchdog = Watchdog(receiver);
        var destination = Endpoint(IPAddress.Loopback, receiver.Port);
        var (outgoing, offsets, outgoingSizes) = Outgoing(3, i => i == 1 ? 300 : 50 + i);
        sender.Send(outgoing, offsets, outgoingSizes, 3, destination);

        var buffers = new[] { new byte[200], new byte[200], new byte[200] };
        var sizes = new int[3];
        var sources = new UdpEndpoint[3];
        var received = new List<byte[]>();
        while (received.Count < 2)
        {
            var count = receiver.Receive(buffers, sizes, sources);
            for (var i = 0; i < count; i++)
            {
                received.Add(buffers[i].AsSpan(0, sizes[i]).ToArray());
            }
        }

        Assert.Equal(2, received.Count);
        Assert.Equal(outgoing[0].AsSpan(offsets[0], 50).ToArray(), received[0]);
        Assert.Equal(outgoing[2].AsSpan(offsets[2], 52).ToArray(), received[1]);
        Assert.Equal(1, receiver.DroppedReceives);
    }

    [Fact]
    public void The_IPv4_fallback_socket_serves_IPv4_and_refuses_IPv6_destinations()
    {
        using var sender = LinuxUdpTransport.Bind(new LinuxUdpTransportOptions { IPv4Only = true });
        using var receiver = LinuxUdpTransport.Bind(new LinuxUdpTransportOptions { IPv4Only = true });
        Assert.False(sender.IsDualStack);

        AssertBatchArrives(sender, receiver, IPAddress.Loopback, count: 10, sizes: i => 64 + i);
        var (buffers, offsets, sizes) = Outgoing(1, _ => 10);
        var error = Assert.Throws<SystemCallException>(() => sender.Send(buffers, offsets, sizes, 1, Endpoint(IPAddress.IPv6Loopback, receiver.Port)));
        Assert.Equal(97, error.Errno); // EAFNOSUPPORT
    }

    [Fact]
    public void Sending_to_an_unreachable_network_throws_naming_sendmmsg_and_the_destination()
    {
        using var ns = NetworkNamespace.Create();
        using var transport = LinuxUdpTransport.BindInNamespace(ns.Name, new LinuxUdpTransportOptions());
        var (buffers, offsets, sizes) = Outgoing(4, _ => 100);

        // The namespace has only its loopback: no route to 192.0.2.1.
        var error = Assert.Throws<SystemCallException>(() => transport.Send(buffers, offsets, sizes, 4, Endpoint(IPAddress.Parse("192.0.2.1"), 51820)));

        Assert.Contains("sendmmsg(192.0.2.1:51820)", error.Message, StringComparison.Ordinal);
        Assert.Equal(101, error.Errno); // ENETUNREACH
    }

    [Fact]
    public void Two_transports_in_two_namespaces_exchange_batches_over_a_veth_pair_on_IPv4_and_IPv6()
    {
        using var left = NetworkNamespace.Create();
        using var right = NetworkNamespace.Create();
        left.AddVethPair("pwleft", right, "pwright");
        left.AddAddress("pwleft", "10.9.0.1/24");
        left.AddAddress("pwleft", "fd00:9::1/64");
        right.AddAddress("pwright", "10.9.0.2/24");
        right.AddAddress("pwright", "fd00:9::2/64");
        left.SetUp("pwleft");
        right.SetUp("pwright");

        using var a = LinuxUdpTransport.BindInNamespace(left.Name, new LinuxUdpTransportOptions { Port = 51820 });
        using var b = LinuxUdpTransport.BindInNamespace(right.Name, new LinuxUdpTransportOptions { Port = 51820 });

        AssertBatchArrives(a, b, IPAddress.Parse("10.9.0.2"), count: 20, sizes: _ => 1400, expectedSource: IPAddress.Parse("10.9.0.1"));
        AssertBatchArrives(b, a, IPAddress.Parse("10.9.0.1"), count: 20, sizes: _ => 1400, expectedSource: IPAddress.Parse("10.9.0.2"));
        AssertBatchArrives(a, b, IPAddress.Parse("fd00:9::2"), count: 20, sizes: i => 200 + i, expectedSource: IPAddress.Parse("fd00:9::1"));
        AssertBatchArrives(b, a, IPAddress.Parse("fd00:9::1"), count: 20, sizes: i => 200 + i, expectedSource: IPAddress.Parse("fd00:9::2"));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Sending_and_receiving_allocate_nothing_in_steady_state(bool segmentation, bool coalescing)
    {
        using var sender = Bind(segmentation, coalescing);
        using var receiver = Bind(segmentation, coalescing);
        using var watchdog = Watchdog(receiver);
        const int Batch = 32;
        var destination = Endpoint(IPAddress.Loopback, receiver.Port);
        var (outgoing, offsets, outgoingSizes) = Outgoing(Batch, _ => 1200);
        var (buffers, sizes, sources) = Buffers(64);

        void RoundTrips(int times)
        {
            for (var round = 0; round < times; round++)
            {
                sender.Send(outgoing, offsets, outgoingSizes, Batch, destination);
                var received = 0;
                while (received < Batch)
                {
                    var count = receiver.Receive(buffers, sizes, sources);
                    for (var i = 0; i < count; i++)
                    {
                        if (sizes[i] != 1200 || sources[i].Port != sender.Port)
                        {
                            Assert.Fail("A datagram came back wrong.");
                        }
                    }
                    received += count;
                }
            }
        }

        AssertSteadyStateAllocatesNothing(RoundTrips);
    }

    [Fact]
    public void Several_threads_may_send_at_once()
    {
        using var sender = LinuxUdpTransport.Bind(0);
        using var receiver = LinuxUdpTransport.Bind(0);
        using var watchdog = Watchdog(receiver);
        const int Threads = 4;
        const int Batches = 50;
        const int Batch = 20;
        var destination = Endpoint(IPAddress.Loopback, receiver.Port);
        var senders = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var (outgoing, offsets, sizes) = Outgoing(Batch, _ => 100 + t);
            for (var b = 0; b < Batches; b++)
            {
                sender.Send(outgoing, offsets, sizes, Batch, destination);
            }
        })
        {
            IsBackground = true,
        }).ToList();
        senders.ForEach(thread => thread.Start());

        var perSize = new int[Threads];
        var (buffers, bufferSizes, sources) = Buffers(64);
        var received = 0;
        while (received < Threads * Batches * Batch)
        {
            var count = receiver.Receive(buffers, bufferSizes, sources);
            for (var i = 0; i < count; i++)
            {
                perSize[bufferSizes[i] - 100]++;
            }
            received += count;
        }

        Assert.All(senders, thread => Assert.True(thread.Join(Deadline)));
        Assert.All(perSize, count => Assert.Equal(Batches * Batch, count));
    }

    [Fact(Explicit = true)]
    public void Loopback_throughput_of_1452_byte_datagrams_in_batches_of_64()
    {
        var output = TestContext.Current.TestOutputHelper!;
        foreach (var (segmentation, coalescing) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var (sent, received, seconds) = MeasureThroughput(segmentation, coalescing, TimeSpan.FromSeconds(3));
            output.WriteLine($"UDP_SEGMENT {(segmentation ? "on " : "off")} UDP_GRO {(coalescing ? "on " : "off")}: "
                + $"sent {sent / seconds:N0}/s, received {received / seconds:N0}/s ({received * 1452 * 8 / seconds / 1e9:N2} Gbit/s payload), "
                + $"lost {sent - received:N0} of {sent:N0}");
        }
    }

    private static (long Sent, long Received, double Seconds) MeasureThroughput(bool segmentation, bool coalescing, TimeSpan duration)
    {
        using var sender = Bind(segmentation, coalescing);
        using var receiver = Bind(segmentation, coalescing);
        var destination = Endpoint(IPAddress.Loopback, receiver.Port);
        var (outgoing, offsets, outgoingSizes) = Outgoing(64, _ => 1452);
        long received = 0;
        var receiving = new Thread(() =>
        {
            var (buffers, sizes, sources) = Buffers(64);
            try
            {
                while (true)
                {
                    Interlocked.Add(ref received, receiver.Receive(buffers, sizes, sources));
                }
            }
            catch (ObjectDisposedException)
            {
            }
        })
        {
            IsBackground = true,
        };
        receiving.Start();

        long sent = 0;
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < duration)
        {
            sender.Send(outgoing, offsets, outgoingSizes, 64, destination);
            sent += 64;
        }
        var seconds = stopwatch.Elapsed.TotalSeconds;
        // Let the receiver drain what is queued (bounded), then stop it.
        var drained = Stopwatch.StartNew();
        var last = -1L;
        while (drained.Elapsed < TimeSpan.FromSeconds(2) && Interlocked.Read(ref received) != last)
        {
            last = Interlocked.Read(ref received);
            Thread.Sleep(100);
        }
        receiver.Dispose();
        receiving.Join(Deadline);
        return (sent, Interlocked.Read(ref received), seconds);
    }

    private static LinuxUdpTransport Bind(bool segmentation, bool coalescing) =>
        LinuxUdpTransport.Bind(new LinuxUdpTransportOptions { SegmentationOffload = segmentation, ReceiveOffload = coalescing });

    /// <summary>Sends <paramref name="count"/> datagrams of distinct content and checks they all arrive, in order, from the sender.</summary>
    private static void AssertBatchArrives(LinuxUdpTransport sender, LinuxUdpTransport receiver, IPAddress to, int count, Func<int, int> sizes, IPAddress? expectedSource = null)
    {
        using var watchdog = Watchdog(receiver);
        var (outgoing, offsets, outgoingSizes) = Outgoing(count, sizes);
        sender.Send(outgoing, offsets, outgoingSizes, count, Endpoint(to, receiver.Port));

        var (buffers, bufferSizes, sources) = Buffers(receiver.BatchSize);
        var received = 0;
        while (received < count)
        {
            var n = receiver.Receive(buffers, bufferSizes, sources);
            Assert.InRange(n, 1, receiver.BatchSize);
            for (var i = 0; i < n; i++, received++)
            {
                Assert.True(received < count, "More datagrams arrived than were sent.");
                Assert.Equal(outgoing[received].AsSpan(offsets[received], outgoingSizes[received]).ToArray(), buffers[i].AsSpan(0, bufferSizes[i]).ToArray());
                var source = sources[i].ToIPEndPoint();
                Assert.Equal(sender.Port, source.Port);
                Assert.Equal(expectedSource ?? to, source.Address);
                Assert.Equal(to.AddressFamily == AddressFamily.InterNetwork, sources[i].IsIPv4);
            }
        }
    }

    private static (byte[] Data, UdpEndpoint Source) ReceiveOne(LinuxUdpTransport transport)
    {
        using var watchdog = Watchdog(transport);
        var (buffers, sizes, sources) = Buffers(4);
        var count = transport.Receive(buffers, sizes, sources);
        Assert.Equal(1, count);
        return (buffers[0].AsSpan(0, sizes[0]).ToArray(), sources[0]);
    }

    /// <summary>Datagrams at varied offsets (as the device leaves room in front), each filled with its own pattern.</summary>
    private static (byte[][] Buffers, int[] Offsets, int[] Sizes) Outgoing(int count, Func<int, int> size)
    {
        var buffers = new byte[count][];
        var offsets = new int[count];
        var sizes = new int[count];
        for (var i = 0; i < count; i++)
        {
            sizes[i] = size(i);
            offsets[i] = 16 + (i % 5);
            buffers[i] = new byte[offsets[i] + sizes[i] + 3];
            for (var j = 0; j < sizes[i]; j++)
            {
                buffers[i][offsets[i] + j] = (byte)((i * 31) + j);
            }
        }
        return (buffers, offsets, sizes);
    }

    private static (byte[][] Buffers, int[] Sizes, UdpEndpoint[] Sources) Buffers(int count)
    {
        var buffers = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            buffers[i] = new byte[BufferSize];
        }
        return (buffers, new int[count], new UdpEndpoint[count]);
    }

    private static UdpEndpoint Endpoint(IPAddress address, int port) => UdpEndpoint.FromIPEndPoint(new IPEndPoint(address, port));

    /// <summary>Bounds every blocking Receive in a test: past the deadline the transport is disposed, so Receive throws.</summary>
    private static Timer Watchdog(LinuxUdpTransport transport) => new(_ => transport.Dispose(), null, Deadline, Timeout.InfiniteTimeSpan);

    private static bool IsBlockedInPoll(string threadName)
    {
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == threadName)
                {
                    return File.ReadAllText(Path.Combine(task, "wchan")).Contains("poll", StringComparison.Ordinal);
                }
            }
            catch (IOException)
            {
                // The thread ended while we looked.
            }
        }
        return false;
    }

    private static bool Eventually(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < Deadline)
        {
            if (condition())
            {
                return true;
            }
            Thread.Sleep(10);
        }
        return condition();
    }

    /// <summary>
    /// Warms up, then measures 200 rounds at a time, up to five times: steady state allocates nothing if one
    /// measurement comes out at zero. An allocation per packet would show in every measurement; a one-off by the
    /// runtime (tiering up a method in the middle of one) shows in one only.
    /// </summary>
    private static void AssertSteadyStateAllocatesNothing(Action<int> rounds)
    {
        rounds(300);
        var measured = new List<long>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            rounds(200);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                return;
            }
            measured.Add(allocated);
        }
        Assert.Fail($"Every measurement allocated: {string.Join(", ", measured)} bytes.");
    }
}
