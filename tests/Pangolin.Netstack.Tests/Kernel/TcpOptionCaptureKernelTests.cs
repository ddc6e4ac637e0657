using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// The TCP options the stack puts on the wire, as tshark sees them on the kernel's side of the TUN: its SYN and
/// SYN-ACK offer MSS = MTU − 40 (IPv4) or MTU − 60 (IPv6) (RFC 9293 §3.7.1), window scale 5 (RFC 7323 §2),
/// SACK-permitted (RFC 2018) and timestamps (RFC 7323 §3); its ACKs carry SACK blocks when segments were lost.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpOptionCaptureKernelTests
{
    private const int Mtu = 1400;
    private const byte OptionSackPermitted = 4;
    private const byte OptionTimestamps = 8;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_stack_syn_and_syn_ack_carry_mss_window_scale_sack_permitted_and_timestamps(bool ipv6)
    {
        using var peer = KernelPeer.Create(mtu: Mtu);
        var ct = TestContext.Current.CancellationToken;
        var stackAddress = ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4;
        var kernelAddress = ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4;
        using var capture = await Capture.StartAsync(peer, ct);

        // Kernel → stack: the stack answers with a SYN-ACK.
        using (var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 8087)))
        using (var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(kernelAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp)))
        {
            var connect = client.ConnectAsync(new IPEndPoint(stackAddress, 8087), ct).AsTask();
            await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
            await connect.WaitAsync(Deadline, ct);
            await server.WriteAsync("hello"u8.ToArray(), ct);
            Assert.Equal(5, await client.ReceiveAsync(new byte[10], ct).AsTask().WaitAsync(Deadline, ct));
        }
        // Stack → kernel: the stack sends the SYN.
        using (var kernelListener = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(kernelAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(kernelAddress, 9092));
            socket.Listen();
            return socket;
        }))
        {
            var accepting = kernelListener.AcceptAsync(ct).AsTask();
            await using var stream = await peer.Stack.ConnectTcpAsync(new IPEndPoint(kernelAddress, 9092), ct).WaitAsync(Deadline, ct);
            using var kernel = await accepting.WaitAsync(Deadline, ct);
        }

        var source = stackAddress.ToString();
        var synAck = await capture.WaitForAsync(s => s.Source == source && s.SourcePort == 8087 && s.Flags == 0x012, ct);
        var syn = await capture.WaitForAsync(s => s.Source == source && s.DestinationPort == 9092 && s.Flags == 0x002, ct);
        var data = await capture.WaitForAsync(s => s.Source == source && s.SourcePort == 8087 && (s.Flags & 0x008) != 0, ct);

        var mss = Mtu - (ipv6 ? 60 : 40);
        foreach (var segment in new[] { synAck, syn })
        {
            Assert.Equal(mss, segment.Mss);
            Assert.Equal(5, segment.WindowScale);
            Assert.Contains(OptionSackPermitted, segment.OptionKinds);
            Assert.Contains(OptionTimestamps, segment.OptionKinds);
        }
        // Once synchronized: timestamps on every segment, and no SYN-only options.
        Assert.Contains(OptionTimestamps, data.OptionKinds);
        Assert.Null(data.Mss);
        Assert.Null(data.WindowScale);
    }

    [Fact]
    public async Task The_stack_acks_carry_sack_blocks_above_the_cumulative_ack_when_kernel_segments_are_lost()
    {
        using var peer = KernelPeer.Create(mtu: Mtu);
        var ct = TestContext.Current.CancellationToken;
        using var capture = await Capture.StartAsync(peer, ct);
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8088));
        using var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 8088), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        // Loss from here on (both ways, seeded): the stack sees holes in what the kernel sends.
        var impairment = new Impairment(seed: 5, loss: 0.03, duplication: 0, reordering: 0);
        peer.Link.Impair = impairment;
        var sending = Task.Run(async () =>
        {
            var sent = await Transfer.SendAsync(client, 2 << 20, seed: 5, ct);
            client.Shutdown(SocketShutdown.Send);
            return sent;
        }, ct);
        var received = await Transfer.ReceiveAsync(server, ct).WaitAsync(Deadline, ct);
        Assert.Equal((await sending.WaitAsync(Deadline, ct)).Hash, received.Hash);
        Assert.True(impairment.Dropped > 0);

        var sacked = await capture.WaitForAsync(s => s.Source == KernelPeer.StackV4.ToString() && s.SackLeftEdges.Length > 0, ct);
        // RFC 2018 §4: each block reports data received above the cumulative ACK (tshark's numbers are relative to
        // the kernel's ISN on both fields, so they compare).
        Assert.All(sacked.SackLeftEdges, left => Assert.True(left > sacked.Ack, $"SACK left edge {left} above ACK {sacked.Ack}"));
        var allSacked = capture.Segments.Where(s => s.Source == KernelPeer.StackV4.ToString() && s.SackLeftEdges.Length > 0).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"dropped {impairment.Dropped}; the stack sent {allSacked.Count} ACKs with SACK blocks, up to {allSacked.Max(s => s.SackLeftEdges.Length)} blocks");
        Assert.All(allSacked, s => Assert.InRange(s.SackLeftEdges.Length, 1, 3)); // three fit beside timestamps
    }

    /// <summary>One TCP segment as tshark prints it.</summary>
    private sealed record Segment(string Source, int SourcePort, int DestinationPort, int Flags, int? Mss, int? WindowScale, byte[] OptionKinds, long[] SackLeftEdges, long Ack);

    /// <summary>tshark in the kernel's namespace on pnt0, one line of fields per TCP segment, as they are captured.</summary>
    private sealed class Capture : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<Segment> _segments = new();
        private readonly ConcurrentQueue<string> _errors = new();
        private readonly TaskCompletionSource _capturing = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private Capture(Process process) => _process = process;

        public IReadOnlyCollection<Segment> Segments => _segments;

        public static async Task<Capture> StartAsync(KernelPeer peer, CancellationToken ct)
        {
            var start = new ProcessStartInfo("ip")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                "netns", "exec", peer.Namespace.Name, "tshark", "-i", KernelPeer.Interface, "-f", "tcp", "-l", "-n",
                "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
                "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags",
                "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift", "-e", "tcp.option_kind",
                "-e", "tcp.options.sack_le", "-e", "tcp.ack",
            })
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException("tshark did not start");
            var capture = new Capture(process);
            process.OutputDataReceived += (_, e) => capture.OnLine(e.Data);
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }
                capture._errors.Enqueue(e.Data);
                // "Capturing on" comes before dumpcap has opened the interface; "Capture started" once it has.
                if (e.Data.Contains("Capture started", StringComparison.Ordinal))
                {
                    capture._capturing.TrySetResult();
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                var exited = process.WaitForExitAsync(ct);
                var first = await Task.WhenAny(capture._capturing.Task, exited).WaitAsync(Deadline, ct);
                Assert.True(first == capture._capturing.Task, "tshark exited: " + string.Join('\n', capture._errors));
                return capture;
            }
            catch
            {
                capture.Dispose();
                throw;
            }
        }

        public async Task<Segment> WaitForAsync(Func<Segment, bool> match, CancellationToken ct)
        {
            var started = TimeProvider.System.GetTimestamp();
            while (true)
            {
                var found = _segments.FirstOrDefault(match);
                if (found is not null)
                {
                    return found;
                }
                Assert.True(TimeProvider.System.GetElapsedTime(started) < Deadline,
                    $"no such segment captured among {_segments.Count}: {string.Join('\n', _segments.Take(20))}; tshark said: {string.Join('\n', _errors)}");
                await Task.Delay(20, ct);
            }
        }

        private void OnLine(string? line)
        {
            if (string.IsNullOrEmpty(line))
            {
                return;
            }
            var f = line.Split('\t');
            if (f.Length < 10)
            {
                return;
            }
            _segments.Enqueue(new Segment(
                f[0].Length > 0 ? f[0] : f[1],
                int.Parse(f[2], CultureInfo.InvariantCulture),
                int.Parse(f[3], CultureInfo.InvariantCulture),
                Convert.ToInt32(f[4], 16),
                f[5].Length > 0 ? int.Parse(f[5], CultureInfo.InvariantCulture) : null,
                f[6].Length > 0 ? int.Parse(f[6], CultureInfo.InvariantCulture) : null,
                [.. f[7].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(k => byte.Parse(k, CultureInfo.InvariantCulture))],
                [.. f[8].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(k => long.Parse(k, CultureInfo.InvariantCulture))],
                f[9].Length > 0 ? long.Parse(f[9], CultureInfo.InvariantCulture) : 0));
        }

        public void Dispose()
        {
            try
            {
                // ip netns exec → tshark → dumpcap: the whole tree this test started.
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
            _process.Dispose();
        }
    }
}
