using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Tun;

namespace Pangolin.WireGuard.Tests.Tun;

/// <summary>
/// The TUN device against the real kernel: each test makes a network namespace, creates the TUN in it, addresses
/// it with `ip`, and pings the kernel through it (we write the echo request, the kernel writes the reply back).
/// </summary>
public sealed partial class LinuxTunTests
{
    // Room for a WireGuard header in front of each packet, as the device will use it.
    private const int Offset = 16;
    private const int BufferSize = Offset + 2048;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly IPAddress KernelV4 = IPAddress.Parse("10.7.0.1");
    private static readonly IPAddress PeerV4 = IPAddress.Parse("10.7.0.2");
    private static readonly IPAddress KernelV6 = IPAddress.Parse("fd00:7::1");
    private static readonly IPAddress PeerV6 = IPAddress.Parse("fd00:7::2");

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_kernel_answers_an_IPv4_ping_written_to_a_TUN_created_in_a_namespace(bool offload)
    {
        using var ns = NetworkNamespace.Create();
        ns.DisableIPv6();
        using var tun = CreateUp(ns, "pwtun4", ipv6: false, offload);
        // Every kernel we run on takes TSO on a TUN (Linux 2.6.27 and later); without it we would be slow, not wrong.
        Assert.Equal(offload, tun.Offload);
        using var watchdog = Watchdog(tun);
        var payload = "ping through the tun"u8.ToArray();

        var (buffers, sizes) = Buffers(1);
        sizes[0] = IcmpPackets.WriteIPv4EchoRequest(buffers[0].AsSpan(Offset), PeerV4, KernelV4, 0x1234, 1, payload);
        tun.Write(buffers, sizes, Offset, 1);

        var reply = ReadUntil(tun, packet => IcmpPackets.IsIPv4EchoReply(packet, KernelV4, PeerV4, 0x1234, 1, payload));
        Assert.NotNull(reply);
    }

    [Fact]
    public void The_kernel_answers_an_IPv6_ping_written_to_a_TUN_created_in_a_namespace()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = CreateUp(ns, "pwtun6", ipv6: true);
        using var watchdog = Watchdog(tun);
        var payload = "ping six through the tun"u8.ToArray();

        var (buffers, sizes) = Buffers(1);
        sizes[0] = IcmpPackets.WriteIPv6EchoRequest(buffers[0].AsSpan(Offset), PeerV6, KernelV6, 0x4321, 7, payload);
        tun.Write(buffers, sizes, Offset, 1);

        // Router solicitations and MLD reports may come first: ReadUntil skips them.
        var reply = ReadUntil(tun, packet => IcmpPackets.IsIPv6EchoReply(packet, KernelV6, PeerV6, 0x4321, 7, payload));
        Assert.NotNull(reply);
    }

    [Fact]
    public void The_MTU_is_the_one_ip_link_reports_and_follows_changes_from_either_side()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = LinuxTun.CreateInNamespace(ns.Name, "pwmtu", 1380);

        Assert.Equal(1380, LinkMtu(ns, "pwmtu"));
        Assert.Equal(1380, tun.Mtu);

        tun.SetMtu(1280);
        Assert.Equal(1280, LinkMtu(ns, "pwmtu"));

        ns.Ip("link", "set", "dev", "pwmtu", "mtu", "1500");
        Assert.Equal(1500, tun.Mtu);
    }

    [Fact]
    public void A_name_pattern_gets_the_name_the_kernel_chose_and_Dispose_removes_the_interface()
    {
        using var ns = NetworkNamespace.Create();
        var tun = LinuxTun.CreateInNamespace(ns.Name, "pwg%d", LinuxTun.DefaultMtu);
        string name;
        using (tun)
        {
            name = tun.Name;
            Assert.Equal("pwg0", name);
            Assert.NotNull(ns.TryShowLink(name));
            Assert.Equal(LinuxTun.DefaultMtu, LinkMtu(ns, name));

            using var second = LinuxTun.CreateInNamespace(ns.Name, "pwg%d", LinuxTun.DefaultMtu);
            Assert.Equal("pwg1", second.Name);

            ns.Ip("link", "set", "dev", name, "name", "pwrenamed");
            Assert.Equal("pwrenamed", tun.Name);
            name = "pwrenamed";
        }

        Assert.True(Eventually(() => ns.TryShowLink(name) is null), $"{name} still exists after Dispose.");
    }

    [Fact]
    public void The_TUN_is_created_in_the_namespace_and_not_in_the_calling_threads()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = LinuxTun.CreateInNamespace(ns.Name, "pwnsonly", 1420);

        Assert.NotNull(ns.TryShowLink("pwnsonly"));
        Assert.NotEqual(0, NetworkNamespace.TryRun("ip", "link", "show", "dev", "pwnsonly").ExitCode);
    }

    [Fact]
    public void Bad_names_and_MTUs_are_refused_before_the_kernel_sees_them()
    {
        Assert.Throws<ArgumentException>(() => LinuxTun.Create("a-name-that-is-too-long"));
        Assert.Throws<ArgumentException>(() => LinuxTun.Create(""));
        Assert.Throws<ArgumentException>(() => LinuxTun.Create("a/b"));
        Assert.Throws<ArgumentException>(() => LinuxTun.Create("a b"));
        Assert.Throws<ArgumentOutOfRangeException>(() => LinuxTun.Create("pwok", 20));
        Assert.Throws<ArgumentOutOfRangeException>(() => LinuxTun.Create("pwok", 70000));
    }

    [Fact]
    public void A_name_already_taken_by_another_kind_of_link_fails_with_the_system_call_named()
    {
        using var ns = NetworkNamespace.Create();
        ns.Ip("link", "add", "pwdummy", "type", "veth", "peer", "name", "pwdummy1");

        var error = Assert.Throws<SystemCallException>(() => LinuxTun.CreateInNamespace(ns.Name, "pwdummy", 1420));

        Assert.Contains("TUNSETIFF", error.Message, StringComparison.Ordinal);
        Assert.NotEqual(0, error.Errno);
    }

    [Fact]
    public void Dispose_unblocks_a_Read_waiting_for_packets_within_a_second()
    {
        using var ns = NetworkNamespace.Create();
        ns.DisableIPv6();
        var tun = CreateUp(ns, "pwblock", ipv6: false);
        using var watchdog = Watchdog(tun);
        Exception? thrown = null;
        var reader = new Thread(() =>
        {
            var (buffers, sizes) = Buffers(4);
            try
            {
                tun.Read(buffers, sizes, Offset);
            }
            catch (Exception exception)
            {
                thrown = exception;
            }
        })
        {
            Name = "pwtun-blocked",
            IsBackground = true,
        };
        reader.Start();
        Assert.True(Eventually(() => IsBlockedInPoll("pwtun-blocked")), "The reader never blocked in poll.");

        var stopwatch = Stopwatch.StartNew();
        tun.Dispose();

        Assert.True(reader.Join(TimeSpan.FromSeconds(1)), "Read was still blocked a second after Dispose.");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1));
        Assert.IsType<ObjectDisposedException>(thrown);
        var (more, moreSizes) = Buffers(1);
        Assert.Throws<ObjectDisposedException>(() => tun.Read(more, moreSizes, Offset));
        Assert.Throws<ObjectDisposedException>(() => tun.Write(more, moreSizes, Offset, 1));
    }

    [Fact]
    public void One_Read_returns_several_packets_when_several_are_queued()
    {
        using var ns = NetworkNamespace.Create();
        ns.DisableIPv6();
        using var tun = CreateUp(ns, "pwbatch", ipv6: false);
        using var watchdog = Watchdog(tun);
        const int Pings = 10;
        var payload = new byte[100];
        var (requests, requestSizes) = Buffers(Pings);
        for (var i = 0; i < Pings; i++)
        {
            requestSizes[i] = IcmpPackets.WriteIPv4EchoRequest(requests[i].AsSpan(Offset), PeerV4, KernelV4, 77, (ushort)i, payload);
        }

        tun.Write(requests, requestSizes, Offset, Pings);
        // The kernel has answered every ping (and queued the answers on the TUN) once it counts them as sent.
        Assert.True(Eventually(() => IcmpOutEchoReplies(ns) >= Pings), "The kernel did not answer all the pings.");

        var (buffers, sizes) = Buffers(32);
        var count = tun.Read(buffers, sizes, Offset);

        Assert.Equal(Pings, count);
        for (var i = 0; i < Pings; i++)
        {
            Assert.True(IcmpPackets.IsIPv4EchoReply(buffers[i].AsSpan(Offset, sizes[i]), KernelV4, PeerV4, 77, (ushort)i, payload), $"Packet {i} is not the reply to ping {i}.");
        }
    }

    [Fact]
    public void A_packet_the_kernel_refuses_is_counted_and_dropped_and_the_next_one_goes_through()
    {
        using var ns = NetworkNamespace.Create();
        ns.DisableIPv6();
        using var tun = CreateUp(ns, "pwrefuse", ipv6: false);
        using var watchdog = Watchdog(tun);
        var payload = "after the bad one"u8.ToArray();

        var (buffers, sizes) = Buffers(2);
        sizes[0] = 40; // version nibble 0: neither IPv4 nor IPv6, so tun_get_user answers EINVAL
        sizes[1] = IcmpPackets.WriteIPv4EchoRequest(buffers[1].AsSpan(Offset), PeerV4, KernelV4, 5, 5, payload);
        tun.Write(buffers, sizes, Offset, 2);

        Assert.Equal(1, tun.DroppedWrites);
        Assert.NotNull(ReadUntil(tun, packet => IcmpPackets.IsIPv4EchoReply(packet, KernelV4, PeerV4, 5, 5, payload)));
    }

    [Fact]
    public void Writing_to_a_TUN_whose_link_is_down_drops_the_packets_instead_of_throwing()
    {
        using var ns = NetworkNamespace.Create();
        using var tun = LinuxTun.CreateInNamespace(ns.Name, "pwdown", LinuxTun.DefaultMtu);
        var (buffers, sizes) = Buffers(3);
        for (var i = 0; i < 3; i++)
        {
            sizes[i] = IcmpPackets.WriteIPv4EchoRequest(buffers[i].AsSpan(Offset), PeerV4, KernelV4, 1, (ushort)i, new byte[8]);
        }

        tun.Write(buffers, sizes, Offset, 3);

        Assert.Equal(3, tun.DroppedWrites);
    }

    [Fact]
    public void Reading_and_writing_allocate_nothing_in_steady_state()
    {
        using var ns = NetworkNamespace.Create();
        ns.DisableIPv6();
        using var tun = CreateUp(ns, "pwalloc", ipv6: false);
        using var watchdog = Watchdog(tun);
        var (requests, requestSizes) = Buffers(1);
        requestSizes[0] = IcmpPackets.WriteIPv4EchoRequest(requests[0].AsSpan(Offset), PeerV4, KernelV4, 9, 9, new byte[56]);
        var (buffers, sizes) = Buffers(8);

        void PingPong(int times)
        {
            for (var i = 0; i < times; i++)
            {
                tun.Write(requests, requestSizes, Offset, 1);
                var count = tun.Read(buffers, sizes, Offset);
                if (count != 1 || sizes[0] != requestSizes[0] || buffers[0][Offset + IcmpPackets.IPv4HeaderLength] != 0)
                {
                    Assert.Fail($"Expected one echo reply, read {count} packets.");
                }
            }
        }

        AssertSteadyStateAllocatesNothing(PingPong);
    }

    private static LinuxTun CreateUp(NetworkNamespace ns, string name, bool ipv6, bool offload = true)
    {
        var tun = LinuxTun.CreateInNamespace(ns.Name, name, LinuxTun.DefaultMtu, offload);
        try
        {
            ns.AddAddress(name, ipv6 ? "fd00:7::1/64" : "10.7.0.1/24");
            ns.SetUp(name);
            return tun;
        }
        catch
        {
            tun.Dispose();
            throw;
        }
    }

    /// <summary>Bounds every blocking Read in a test: past the deadline the TUN is disposed, so Read throws.</summary>
    private static Timer Watchdog(LinuxTun tun) => new(_ => tun.Dispose(), null, Deadline, Timeout.InfiniteTimeSpan);

    private static (byte[][] Buffers, int[] Sizes) Buffers(int count)
    {
        var buffers = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            buffers[i] = new byte[BufferSize];
        }
        return (buffers, new int[count]);
    }

    private static byte[]? ReadUntil(LinuxTun tun, Func<byte[], bool> match)
    {
        var (buffers, sizes) = Buffers(tun.BatchSize);
        while (true)
        {
            var count = tun.Read(buffers, sizes, Offset);
            for (var i = 0; i < count; i++)
            {
                var packet = buffers[i].AsSpan(Offset, sizes[i]).ToArray();
                if (match(packet))
                {
                    return packet;
                }
            }
        }
    }

    private static int LinkMtu(NetworkNamespace ns, string link)
    {
        var output = ns.Ip("link", "show", "dev", link);
        return int.Parse(MtuPattern().Match(output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long IcmpOutEchoReplies(NetworkNamespace ns)
    {
        // /proc/net/snmp: an "Icmp:" header line naming the columns, then an "Icmp:" line of values.
        var lines = ns.Exec("cat", "/proc/net/snmp").Split('\n').Where(line => line.StartsWith("Icmp: ", StringComparison.Ordinal)).ToArray();
        var names = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(values[Array.IndexOf(names, "OutEchoReps")], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>True once a thread of ours with this name sleeps in poll(2) (its wait channel names a poll function).</summary>
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

    [GeneratedRegex(@"\bmtu (\d+)")]
    private static partial Regex MtuPattern();

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
