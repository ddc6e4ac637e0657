using System.Net;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>What a test peer offers in its SYN (or SYN-ACK): by default Linux's options.</summary>
internal sealed record SynOffer
{
    public ushort? Mss { get; init; } = 1460;

    public byte? WindowScale { get; init; } = 7;

    public bool SackPermitted { get; init; } = true;

    public bool Timestamps { get; init; } = true;

    public uint Iss { get; init; } = 0x10000000;

    public ushort Window { get; init; } = 64240;

    public static SynOffer Linux { get; } = new();

    public static SynOffer Bare { get; } = new() { Mss = null, WindowScale = null, SackPermitted = false, Timestamps = false };

    public TcpOptions ToOptions(uint timestampValue, uint timestampEcho)
    {
        var options = default(TcpOptions);
        if (Mss is { } mss)
        {
            options.HasMss = true;
            options.Mss = mss;
        }
        if (WindowScale is { } shift)
        {
            options.HasWindowScale = true;
            options.WindowScale = shift;
        }
        options.SackPermitted = SackPermitted;
        if (Timestamps)
        {
            options.HasTimestamps = true;
            options.TimestampValue = timestampValue;
            options.TimestampEcho = timestampEcho;
        }
        return options;
    }
}

/// <summary>
/// One <see cref="NetworkStack"/> on fake time and a capturing link, and a hand-driven peer at the other end of one
/// connection: the test builds each segment the peer sends and reads each segment the stack sends. Nothing here
/// runs a thread or sleeps: timers fire inside <see cref="Advance"/>.
/// </summary>
internal sealed class TcpHarness : IDisposable
{
    public const ushort ServerPort = 8080;
    public const ushort DefaultPeerPort = 40000;

    public static readonly IPAddress StackAddress = IPAddress.Parse("10.0.0.2");
    public static readonly IPAddress PeerAddress = IPAddress.Parse("10.0.0.1");

    private int _taken;
    private uint _peerTimestamp = 5000;
    private Netstack.Tcp.TcpListener? _listener;

    public TcpHarness(bool noDelay = false, int sendBufferSize = 1 << 20, int receiveBufferSize = 1 << 20, int mtu = 1420, int segmentationSize = 0, bool coalesce = false, int segmentAlignment = 1)
    {
        Time = new FakeTimeProvider();
        Link = new CapturingLink(mtu, segmentationSize);
        Stack = new NetworkStack(Link, new NetworkStackOptions
        {
            Time = Time,
            TcpNoDelay = noDelay,
            TcpSendBufferSize = sendBufferSize,
            TcpReceiveBufferSize = receiveBufferSize,
            LinkAuthenticatesPackets = coalesce,
            CoalesceReceivedSegments = coalesce,
            TcpSegmentAlignment = segmentAlignment,
        });
        Stack.AddAddress(StackAddress);
    }

    public FakeTimeProvider Time { get; }

    public CapturingLink Link { get; }

    public NetworkStack Stack { get; }

    /// <summary>The connection's ports: the stack's end and the peer's.</summary>
    public ushort StackPort { get; set; } = ServerPort;

    public ushort PeerPort { get; set; } = DefaultPeerPort;

    /// <summary>The stack's initial sequence number, learnt from its SYN or SYN-ACK.</summary>
    public uint StackIss { get; private set; }

    public uint PeerIss { get; private set; }

    /// <summary>The sequence number of the peer's next new byte.</summary>
    public uint PeerNext { get; set; }

    /// <summary>What the peer acknowledges of the stack's sequence space in the segments it sends by default.</summary>
    public uint PeerAck { get; set; }

    /// <summary>The window field the peer sends by default (scaled by the shift it offered).</summary>
    public ushort PeerWindow { get; set; } = 65535;

    public bool Timestamps { get; private set; }

    public bool Sack { get; private set; }

    /// <summary>The MSS the stack sends with: the smaller of both offers, less 12 when timestamps are on.</summary>
    public int StackMss { get; private set; }

    /// <summary>The stack's newest TSval, which the peer echoes.</summary>
    public uint StackTimestamp { get; private set; }

    public Netstack.Tcp.TcpListener Listener => _listener ??= Stack.ListenTcp(new IPEndPoint(StackAddress, ServerPort));

    /// <summary>The connection's state as the stack keeps it (CLOSED once it has left the table).</summary>
    public TcpState State => Connection?.State ?? TcpState.Closed;

    /// <summary>The connection for this 4-tuple, read from the stack's table; null when there is none.</summary>
    public TcpConnection? Connection
    {
        get
        {
            var key = new ConnectionKey(Netstack.Ip.IpAddressBytes.From(StackAddress), StackPort, Netstack.Ip.IpAddressBytes.From(PeerAddress), PeerPort);
            return Stack.FindConnection(key);
        }
    }

    public void Advance(TimeSpan delta) => Time.Advance(delta);

    // ------------------------------------------------------------------ what the peer sends

    /// <summary>Sends one segment from the peer's end of the connection.</summary>
    public void Send(uint sequence, uint acknowledgment, TcpFlags flags, ushort? window = null, byte[]? payload = null, TcpOptions? options = null)
    {
        var segment = new TestSegment
        {
            Source = PeerAddress,
            Destination = StackAddress,
            SourcePort = PeerPort,
            DestinationPort = StackPort,
            Sequence = sequence,
            Acknowledgment = acknowledgment,
            Flags = flags,
            Window = window ?? PeerWindow,
            Options = options ?? PeerOptions(),
            Payload = payload ?? [],
        };
        Stack.Receive(segment.ToIpv4Packet());
    }

    /// <summary>The options on the peer's ordinary segments: timestamps when negotiated, and the SACK blocks given.</summary>
    public TcpOptions PeerOptions(params (uint Left, uint Right)[] sackBlocks)
    {
        var options = default(TcpOptions);
        if (Timestamps)
        {
            options.HasTimestamps = true;
            options.TimestampValue = ++_peerTimestamp;
            options.TimestampEcho = StackTimestamp;
        }
        foreach (var (left, right) in sackBlocks)
        {
            options.AddSackBlock(new SackBlock(new SequenceNumber(left), new SequenceNumber(right)));
        }
        return options;
    }

    /// <summary>In-order data from the peer (or at <paramref name="sequence"/>); PeerNext moves past it when in order.</summary>
    public void SendData(byte[] data, uint? sequence = null, TcpFlags extra = TcpFlags.Psh)
    {
        var seq = sequence ?? PeerNext;
        Send(seq, PeerAck, TcpFlags.Ack | extra, payload: data);
        if (seq == PeerNext)
        {
            PeerNext += (uint)data.Length + ((extra & TcpFlags.Fin) != 0 ? 1u : 0u);
        }
    }

    public void SendAck(uint? acknowledgment = null, ushort? window = null, params (uint Left, uint Right)[] sackBlocks) =>
        Send(PeerNext, acknowledgment ?? PeerAck, TcpFlags.Ack, window, options: PeerOptions(sackBlocks));

    public void SendFin()
    {
        Send(PeerNext, PeerAck, TcpFlags.Fin | TcpFlags.Ack);
        PeerNext++;
    }

    // ------------------------------------------------------------------ what the stack sends

    /// <summary>Every segment the stack sent since the last call, checked and parsed.</summary>
    public List<TestSegment> TakeSent()
    {
        var sent = Link.Sent;
        var segments = new List<TestSegment>();
        for (; _taken < sent.Count; _taken++)
        {
            var segment = TestSegment.ParseIpv4(sent[_taken]);
            Assert.Equal(StackAddress, segment.Source);
            Assert.Equal(PeerAddress, segment.Destination);
            if (segment.Options.HasTimestamps)
            {
                StackTimestamp = segment.Options.TimestampValue;
            }
            segments.Add(segment);
        }
        return segments;
    }

    /// <summary>The one segment the stack sent since the last look.</summary>
    public TestSegment TakeOne()
    {
        var sent = TakeSent();
        return Assert.Single(sent);
    }

    public void AssertNothingSent()
    {
        var sent = TakeSent();
        Assert.True(sent.Count == 0, "Unexpected segments: " + string.Join("; ", sent));
    }

    // ------------------------------------------------------------------ opening

    /// <summary>The peer sends a SYN to the listener; returns the stack's SYN-ACK (checked for its basic fields).</summary>
    public TestSegment SendSyn(SynOffer? offer = null)
    {
        offer ??= SynOffer.Linux;
        _ = Listener;
        PeerIss = offer.Iss;
        PeerNext = offer.Iss + 1;
        Timestamps = offer.Timestamps;
        Sack = offer.SackPermitted;
        Send(offer.Iss, 0, TcpFlags.Syn, offer.Window, options: offer.ToOptions(++_peerTimestamp, 0));
        var synAck = TakeOne();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(PeerNext, synAck.Acknowledgment);
        StackIss = synAck.Sequence;
        PeerAck = StackIss + 1;
        StackMss = ExpectedMss(offer, offer.Timestamps);
        return synAck;
    }

    /// <summary>Passive open: SYN, SYN-ACK, ACK, and the accepted stream.</summary>
    public async Task<Stream> PassiveOpenAsync(SynOffer? offer = null)
    {
        SendSyn(offer);
        SendAck();
        var stream = await Listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(TcpState.Established, State);
        AssertNothingSent();
        return stream;
    }

    /// <summary>Starts an active open to the peer; returns the pending connect and the SYN it sent.</summary>
    public (Task<Stream> Connect, TestSegment Syn) StartConnect(ushort peerPort = 80)
    {
        PeerPort = peerPort;
        var connect = Stack.ConnectTcpAsync(new IPEndPoint(PeerAddress, peerPort), TestContext.Current.CancellationToken);
        var syn = TakeOne();
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        StackPort = syn.SourcePort;
        StackIss = syn.Sequence;
        return (connect, syn);
    }

    /// <summary>Active open: the stack's SYN, the peer's SYN-ACK with <paramref name="offer"/>, the stack's ACK.</summary>
    public async Task<Stream> ActiveOpenAsync(SynOffer? offer = null)
    {
        offer ??= SynOffer.Linux;
        var (connect, syn) = StartConnect();
        PeerIss = offer.Iss;
        PeerNext = offer.Iss + 1;
        PeerAck = StackIss + 1;
        Timestamps = offer.Timestamps && syn.Options.HasTimestamps;
        Sack = offer.SackPermitted;
        Send(offer.Iss, PeerAck, TcpFlags.Syn | TcpFlags.Ack, offer.Window, options: offer.ToOptions(++_peerTimestamp, syn.Options.TimestampValue));
        StackMss = ExpectedMss(offer, Timestamps);
        var ack = TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(StackIss + 1, ack.Sequence);
        Assert.Equal(PeerNext, ack.Acknowledgment);
        return await connect.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }

    /// <summary>The smaller of both offers, less 12 when timestamps are on, cut to whole multiples of the alignment.</summary>
    private int ExpectedMss(SynOffer offer, bool timestamps)
    {
        var mss = Math.Min(Stack.Mtu - 40, offer.Mss ?? 536) - (timestamps ? 12 : 0);
        var headers = 40 + (timestamps ? 12 : 0);
        var alignment = Stack.Options.TcpSegmentAlignment;
        var aligned = (mss + headers) / alignment * alignment - headers;
        return aligned >= mss / 2 ? aligned : mss;
    }

    public void Dispose()
    {
        _listener?.Dispose();
        Stack.Dispose();
    }

    /// <summary>Deterministic bytes for payloads: 0, 1, 2, ... from <paramref name="start"/>.</summary>
    public static byte[] Bytes(int count, int start = 0)
    {
        var data = new byte[count];
        for (var i = 0; i < count; i++)
        {
            data[i] = (byte)(start + i);
        }
        return data;
    }
}
