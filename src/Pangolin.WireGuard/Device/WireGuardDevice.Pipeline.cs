using System.Buffers.Binary;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

/// <summary>The packet paths: interface → peers → encryption → UDP, and UDP → decryption → peers → interface.</summary>
public sealed partial class WireGuardDevice
{
    private long _underLoadUntil = long.MinValue;

    /// <summary>Tests turn the under-load behaviour on without flooding the device.</summary>
    internal bool ForceUnderLoad { get; set; }

    /// <summary>
    /// Reads plaintext packets in batches, routes each to the peer whose allowed IPs hold its destination
    /// (cryptokey routing, §2), and stages them there; then each touched peer sends what it staged.
    /// </summary>
    private void RunInterfaceReader()
    {
        var batchSize = Math.Max(1, _interface.BatchSize);
        var elements = new PacketElement[batchSize];
        var buffers = new byte[batchSize][];
        var sizes = new int[batchSize];
        var touched = new List<Peer>(8);
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                // At least one element (waiting if all are in flight), then as many as are free.
                elements[0] = Pool.Rent(token);
                var rented = 1;
                while (rented < batchSize && Pool.TryRent(out var more))
                {
                    elements[rented++] = more;
                }
                for (var i = 0; i < rented; i++)
                {
                    buffers[i] = elements[i].Buffer;
                }
                var read = ReadInterface(buffers, sizes, rented);
                RefreshMtu();
                for (var i = 0; i < rented; i++)
                {
                    var element = elements[i];
                    elements[i] = null!;
                    if (i >= read || sizes[i] <= 0 || sizes[i] > element.Buffer.Length - Protocol.TransportOverhead - Protocol.PaddingMultiple)
                    {
                        Pool.Return(element);
                        continue;
                    }
                    var packet = element.Buffer.AsSpan(Protocol.TransportHeaderSize, sizes[i]);
                    var peer = AllowedIps.LookupDestination(packet);
                    if (peer is null || !peer.IsRunning)
                    {
                        Pool.Return(element);
                        continue;
                    }
                    element.Length = sizes[i];
                    peer.Stage(element);
                    if (!touched.Contains(peer))
                    {
                        touched.Add(peer);
                    }
                }
                foreach (var peer in touched)
                {
                    peer.SendStaged();
                }
                touched.Clear();
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
            // stopping
        }
        catch (Exception e) when (e is IOException)
        {
            LogReaderStopped(_logger, "interface", e.Message);
        }
    }

    /// <summary>
    /// The MTU bounds the padding (§5.4.6). Asking a TUN device costs ioctls, so the interface reader asks at most
    /// once a second: `ip link set mtu` takes effect within that.
    /// </summary>
    private void RefreshMtu()
    {
        var now = Environment.TickCount64;
        if (now - _mtuCheckedAt < 1000)
        {
            return;
        }
        _mtuCheckedAt = now;
        try
        {
            Volatile.Write(ref _mtu, _interface.Mtu);
        }
        catch (IOException)
        {
            // keep the last known MTU; a vanished interface ends the reader on its next read
        }
    }

    private int ReadInterface(byte[][] buffers, int[] sizes, int count)
    {
        if (count == buffers.Length)
        {
            return _interface.Read(buffers, sizes, Protocol.TransportHeaderSize);
        }
        // The interface fills as many buffers as it is given: give it only the rented ones.
        var some = buffers[..count];
        var someSizes = new int[count];
        var read = _interface.Read(some, someSizes, Protocol.TransportHeaderSize);
        someSizes.AsSpan(0, read).CopyTo(sizes);
        return read;
    }

    /// <summary>
    /// Receives datagrams in batches and sorts them: handshake messages to the handshake worker, transport messages
    /// into this batch's decryption (spread over the cores), after which they go, in arrival order, through their
    /// peer's checks to the packet interface. Anything else is dropped.
    /// </summary>
    private void RunUdpReader(IUdpTransport transport)
    {
        var batchSize = Math.Max(1, transport.BatchSize);
        var elements = new PacketElement[batchSize];
        var buffers = new byte[batchSize][];
        var sizes = new int[batchSize];
        var sources = new UdpEndpoint[batchSize];
        var decryption = new CryptoBatch(batchSize, _decrypt);
        var delivery = new DeliveryBatch(batchSize);
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var rented = 0;
                for (var i = 0; i < batchSize; i++)
                {
                    elements[i] = i == 0 ? Pool.Rent(token) : Pool.TryRent(out var e) ? e : null!;
                    if (elements[i] is null)
                    {
                        break;
                    }
                    buffers[i] = elements[i].Buffer;
                    rented++;
                }
                var count = rented == buffers.Length ? transport.Receive(buffers, sizes, sources) : ReceivePartial(transport, buffers, sizes, sources, rented);
                decryption.Count = 0;
                for (var i = 0; i < rented; i++)
                {
                    var element = elements[i];
                    elements[i] = null!;
                    switch (i < count ? Dispatch(element, sizes[i], sources[i]) : Disposition.Drop)
                    {
                        case Disposition.Decrypt:
                            decryption.Items[decryption.Count++] = element;
                            break;
                        case Disposition.Drop:
                            Pool.Return(element);
                            break;
                        default:
                            break; // the handshake worker owns it now
                    }
                }
                if (decryption.Count > 0)
                {
                    Crypto.Run(decryption);
                    Deliver(decryption, delivery);
                }
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
        {
            // stopping, or the socket was replaced
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            LogReaderStopped(_logger, "udp", e.Message);
        }
        finally
        {
            foreach (var element in elements)
            {
                if (element is not null)
                {
                    Pool.Return(element);
                }
            }
        }
    }

    /// <summary>Decrypted packets, in arrival order, through their peer's checks and on to the interface in one write.</summary>
    private void Deliver(CryptoBatch decrypted, DeliveryBatch delivery)
    {
        var accepted = 0;
        var peers = delivery.Peers;
        for (var i = 0; i < decrypted.Count; i++)
        {
            var element = decrypted.Items[i];
            decrypted.Items[i] = null!;
            var peer = element.Peer!;
            if (peers.Count == 0 || !ReferenceEquals(peers[^1], peer) && !peers.Contains(peer))
            {
                peers.Add(peer);
            }
            if (peer.Accept(element))
            {
                delivery.Elements[accepted] = element;
                delivery.Buffers[accepted] = element.Buffer;
                delivery.Sizes[accepted] = element.Length;
                accepted++;
            }
            else
            {
                Pool.Return(element);
            }
        }
        foreach (var peer in peers)
        {
            peer.EndReceiveBatch();
        }
        peers.Clear();
        if (accepted > 0)
        {
            WriteToInterface(delivery.Buffers, delivery.Sizes, accepted);
        }
        for (var i = 0; i < accepted; i++)
        {
            Pool.Return(delivery.Elements[i]);
            delivery.Elements[i] = null!;
            delivery.Buffers[i] = null!;
        }
    }

    private sealed class DeliveryBatch(int capacity)
    {
        public PacketElement[] Elements { get; } = new PacketElement[capacity];

        public byte[][] Buffers { get; } = new byte[capacity][];

        public int[] Sizes { get; } = new int[capacity];

        /// <summary>The peers whose packets the batch held, for their once-per-batch bookkeeping.</summary>
        public List<Peer> Peers { get; } = new(8);
    }

    private enum Disposition
    {
        Drop,
        Decrypt,
        Handshake,
    }

    private static int ReceivePartial(IUdpTransport transport, byte[][] buffers, int[] sizes, UdpEndpoint[] sources, int count)
    {
        var someSizes = new int[count];
        var someSources = new UdpEndpoint[count];
        var read = transport.Receive(buffers[..count], someSizes, someSources);
        someSizes.AsSpan(0, read).CopyTo(sizes);
        someSources.AsSpan(0, read).CopyTo(sources);
        return read;
    }

    /// <summary>What becomes of a datagram; on <see cref="Disposition.Drop"/> the caller returns the element to the pool.</summary>
    private Disposition Dispatch(PacketElement element, int size, UdpEndpoint source)
    {
        if (size < 4)
        {
            return Disposition.Drop;
        }
        var data = element.Buffer.AsSpan(0, size);
        // The three reserved bytes are zero in every message (§5.4).
        if (data[1] != 0 || data[2] != 0 || data[3] != 0)
        {
            return Disposition.Drop;
        }
        element.Length = size;
        element.Source = source;
        switch (data[0])
        {
            case Protocol.TypeTransport when size >= Protocol.TransportOverhead:
                var index = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
                if (!Indices.TryGet(index, out var entry) || entry.Keypair is not { } keypair || keypair.IsDisposed
                    || Time.GetElapsedTime(keypair.CreatedTimestamp) >= Protocol.RejectAfterTime)
                {
                    return Disposition.Drop;
                }
                element.Keypair = keypair;
                element.Peer = entry.Peer;
                element.Counter = BinaryPrimitives.ReadUInt64LittleEndian(data[8..]);
                return Disposition.Decrypt;
            case Protocol.TypeInitiation when size == Protocol.InitiationSize:
            case Protocol.TypeResponse when size == Protocol.ResponseSize:
            case Protocol.TypeCookieReply when size == Protocol.CookieReplySize:
                return HandshakeQueue.Writer.TryWrite(element) ? Disposition.Handshake : Disposition.Drop;
            default:
                return Disposition.Drop;
        }
    }

    /// <summary>§5.4.6: header, zero padding to a multiple of 16 (within the MTU), and ChaCha20-Poly1305 in place.</summary>
    internal void Encrypt(PacketElement element)
    {
        try
        {
            EncryptInPlace(element);
        }
        catch (Exception e) when (e is ObjectDisposedException or System.Security.Cryptography.CryptographicException)
        {
            element.Failed = true; // the session was retired while this packet waited
        }
    }

    private void EncryptInPlace(PacketElement element)
    {
        var keypair = element.Keypair!;
        var buffer = element.Buffer.AsSpan();
        var length = element.Length;
        var padded = PaddedLength(length, Volatile.Read(ref _mtu));
        buffer.Slice(Protocol.TransportHeaderSize + length, padded - length).Clear();
        buffer[0] = Protocol.TypeTransport;
        buffer[1] = buffer[2] = buffer[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], keypair.RemoteIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], element.Counter);
        var plaintext = buffer.Slice(Protocol.TransportHeaderSize, padded);
        keypair.Encrypt(element.Counter, plaintext, buffer.Slice(Protocol.TransportHeaderSize + padded, Protocol.TagSize));
        element.WireLength = Protocol.TransportOverhead + padded;
    }

    /// <summary>wireguard-go's calculatePaddingSize: round up to 16 without passing the MTU.</summary>
    internal static int PaddedLength(int length, int mtu)
    {
        var last = length;
        if (mtu > 0 && last > mtu)
        {
            last %= mtu;
        }
        var padded = (last + Protocol.PaddingMultiple - 1) & ~(Protocol.PaddingMultiple - 1);
        if (mtu > 0 && padded > mtu)
        {
            padded = mtu;
        }
        return length + (padded - last);
    }

    internal void Decrypt(PacketElement element)
    {
        try
        {
            var buffer = element.Buffer.AsSpan(0, element.Length);
            var cipher = buffer[Protocol.TransportHeaderSize..^Protocol.TagSize];
            element.Failed = !element.Keypair!.Decrypt(element.Counter, cipher, buffer[^Protocol.TagSize..]);
        }
        catch (Exception e) when (e is ObjectDisposedException or System.Security.Cryptography.CryptographicException)
        {
            element.Failed = true;
        }
    }

    /// <summary>Under load (a long handshake queue) handshakes must prove their source with MAC2 (§5.3).</summary>
    private bool IsUnderLoad()
    {
        if (ForceUnderLoad)
        {
            return true;
        }
        var now = Time.GetTimestamp();
        if (HandshakeQueue.Reader.CanCount && HandshakeQueue.Reader.Count >= Options.HandshakeQueueSize / 8)
        {
            Interlocked.Exchange(ref _underLoadUntil, now + (long)(Time.TimestampFrequency * 1.0));
            return true;
        }
        return now < Interlocked.Read(ref _underLoadUntil);
    }

    private async Task RunHandshakeWorkerAsync()
    {
        var reader = HandshakeQueue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var element))
            {
                try
                {
                    ProcessHandshakeMessage(element.Buffer.AsSpan(0, element.Length), element.Source);
                }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ObjectDisposedException)
                {
                    // A message that cannot be processed is dropped like any invalid one.
                }
                finally
                {
                    Pool.Return(element);
                }
            }
        }
    }

    private void ProcessHandshakeMessage(ReadOnlySpan<byte> message, UdpEndpoint source)
    {
        var identity = Identity;
        var checker = CookieChecker;
        if (identity is null || checker is null)
        {
            return;
        }
        if (message[0] == Protocol.TypeCookieReply)
        {
            var receiver = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
            if (Indices.TryGet(receiver, out var entry) && entry.Keypair is null)
            {
                entry.Peer.Cookies.ConsumeReply(message);
            }
            return;
        }
        if (!checker.CheckMac1(message))
        {
            return;
        }
        if (IsUnderLoad() && !checker.CheckMac2(message, source))
        {
            var reply = new byte[Protocol.CookieReplySize];
            checker.CreateReply(message, source, reply);
            SendTo(source, reply);
            return;
        }
        if (message[0] == Protocol.TypeInitiation)
        {
            ConsumeInitiation(identity, message, source);
        }
        else
        {
            ConsumeResponse(message, source);
        }
    }

    private void ConsumeInitiation(StaticIdentity identity, ReadOnlySpan<byte> message, UdpEndpoint source)
    {
        Span<byte> chainKey = stackalloc byte[Protocol.HashSize];
        Span<byte> hash = stackalloc byte[Protocol.HashSize];
        Span<byte> initiator = stackalloc byte[Protocol.KeySize];
        if (!Handshake.BeginConsumeInitiation(identity, message, chainKey, hash, initiator))
        {
            return;
        }
        var peer = FindPeer(initiator);
        if (peer is null || !peer.IsRunning)
        {
            return;
        }
        var response = new byte[Protocol.ResponseSize];
        Keypair keypair;
        lock (peer.Handshake.Lock)
        {
            if (!peer.Handshake.FinishConsumeInitiation(message, chainKey, hash, Time.GetTimestamp(), Time))
            {
                return;
            }
            peer.UpdateEndpoint(source);
            Indices.Remove(peer.Handshake.LocalIndex);
            peer.Handshake.LocalIndex = Indices.NewIndex(peer, null);
            if (!peer.Handshake.CreateResponse(response))
            {
                return;
            }
            keypair = DeriveSession(peer);
        }
        peer.TimersAnyAuthenticatedPacketTraversal();
        peer.TimersAnyAuthenticatedPacketReceived();
        // A valid handshake message counts in transfer rx, as in wireguard-go and the kernel.
        peer.AddRxBytes(message.Length);
        peer.Cookies.AddMacs(response);
        peer.InstallKeypair(keypair);
        peer.TimersSessionDerived();
        peer.TimersAnyAuthenticatedPacketSent();
        SendControl(peer, response);
    }

    private void ConsumeResponse(ReadOnlySpan<byte> message, UdpEndpoint source)
    {
        var receiver = BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
        if (!Indices.TryGet(receiver, out var entry) || entry.Keypair is not null)
        {
            return;
        }
        var peer = entry.Peer;
        Keypair keypair;
        lock (peer.Handshake.Lock)
        {
            if (peer.Handshake.LocalIndex != receiver || !peer.Handshake.ConsumeResponse(message))
            {
                return;
            }
            keypair = DeriveSession(peer);
        }
        peer.UpdateEndpoint(source);
        peer.TimersAnyAuthenticatedPacketTraversal();
        peer.TimersAnyAuthenticatedPacketReceived();
        peer.AddRxBytes(message.Length);
        peer.InstallKeypair(keypair);
        peer.TimersSessionDerived();
        peer.TimersHandshakeComplete();
        // Confirm the session to the responder with data, or a keepalive when nothing waits (§5.4.5).
        peer.SendKeepalive();
    }

    /// <summary>Derives the session keys and moves the handshake's index over to the session. Caller holds the handshake lock.</summary>
    private Keypair DeriveSession(Peer peer)
    {
        Span<byte> send = stackalloc byte[Protocol.KeySize];
        Span<byte> receive = stackalloc byte[Protocol.KeySize];
        var localIndex = peer.Handshake.LocalIndex;
        peer.Handshake.TryDeriveKeys(send, receive, out var isInitiator);
        var keypair = new Keypair(peer, send, receive, isInitiator, localIndex, peer.Handshake.RemoteIndex, Time.GetTimestamp());
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(send);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(receive);
        Indices.Assign(localIndex, keypair);
        peer.Handshake.LocalIndex = 0;
        return keypair;
    }
}
