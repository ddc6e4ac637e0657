using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Pangolin.WireGuard.AllowedIps;

/// <summary>
/// Cryptokey routing (whitepaper §2): a longest-prefix-match table from IP prefixes to an owner (a peer), with
/// one trie for IPv4 and one for IPv6. Sending looks up a packet's destination to pick the peer; receiving checks
/// that the inner source address maps back to the peer the packet came from.
/// </summary>
/// <remarks>
/// <para>
/// The tries are path-compressed binary tries like wireguard-go's allowedips.go and the kernel's: a node holds a
/// prefix (masked key and length), an optional owner and two children chosen by the first bit after the prefix;
/// chains of single-child nodes without an owner are never stored, so a lookup visits at most a few nodes per
/// stored prefix length rather than one per address bit.
/// </para>
/// <para>
/// Concurrency: lookups run on every packet, from many threads at once, while updates are rare (configuration).
/// Nodes are therefore immutable and updates copy the path they change (copy-on-write, O(depth) ≤ 129 new nodes
/// per change), then publish the new root with a release write. A lookup reads the root once with an acquire read
/// and walks a snapshot that can never change under it: no lock, no interlocked operation and no shared cache
/// line written by readers (a ReaderWriterLockSlim's read lock would make every packet on every core write to
/// the same counter). Writers serialise on one lock, which also guards the per-owner index behind
/// <see cref="EntriesFor"/> and <see cref="RemoveAll"/>. <see cref="Lookup"/> allocates nothing.
/// </para>
/// </remarks>
public sealed class AllowedIpsTable<T> where T : class
{
    private readonly Lock _writeLock = new();
    private readonly Dictionary<T, List<IPNetwork>> _byOwner = new(ReferenceEqualityComparer.Instance);
    private Node? _v4;
    private Node? _v6;

    /// <summary>True when no prefix is stored (both tries empty).</summary>
    internal bool IsEmpty => Volatile.Read(ref _v4) is null && Volatile.Read(ref _v6) is null;

    /// <summary>
    /// Nodes in both tries (a walk, for tests): owner-less nodes always branch, so this never exceeds twice the
    /// number of stored prefixes.
    /// </summary>
    internal int NodeCount => CountNodes(Volatile.Read(ref _v4)) + CountNodes(Volatile.Read(ref _v6));

    /// <summary>
    /// Maps <paramref name="prefix"/> to <paramref name="value"/>. An identical prefix already present changes
    /// owner (as <c>wg set ... allowed-ips</c> moves a prefix between peers). Host bits are masked off, as wg does.
    /// </summary>
    public void Insert(IPNetwork prefix, T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var key = Key.From(prefix);
        lock (_writeLock)
        {
            ref var root = ref RootFor(key);
            var newRoot = InsertInto(root, key, value, out var previous);
            Volatile.Write(ref root, newRoot);

            if (ReferenceEquals(previous, value))
            {
                return;
            }
            var network = key.ToNetwork();
            if (previous is not null)
            {
                RemoveFromIndex(previous, network);
            }
            if (!_byOwner.TryGetValue(value, out var list))
            {
                list = [];
                _byOwner.Add(value, list);
            }
            list.Add(network);
        }
    }

    /// <summary>
    /// Removes <paramref name="prefix"/> (host bits masked off) if <paramref name="value"/> owns it; returns
    /// whether it did. A prefix owned by someone else stays.
    /// </summary>
    public bool Remove(IPNetwork prefix, T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var key = Key.From(prefix);
        lock (_writeLock)
        {
            ref var root = ref RootFor(key);
            var removed = false;
            var newRoot = RemoveFrom(root, key, value, ref removed);
            if (!removed)
            {
                return false;
            }
            Volatile.Write(ref root, newRoot);
            RemoveFromIndex(value, key.ToNetwork());
            return true;
        }
    }

    /// <summary>Removes every prefix <paramref name="value"/> owns (a peer going away).</summary>
    public void RemoveAll(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        lock (_writeLock)
        {
            if (!_byOwner.Remove(value, out var networks))
            {
                return;
            }
            // Build both new tries first and publish each once, so a reader sees all of the owner's prefixes of a
            // family disappear together.
            var v4 = _v4;
            var v6 = _v6;
            foreach (var network in networks)
            {
                var key = Key.From(network);
                var removed = false;
                if (key.MaxBits == 32)
                {
                    v4 = RemoveFrom(v4, key, value, ref removed);
                }
                else
                {
                    v6 = RemoveFrom(v6, key, value, ref removed);
                }
            }
            Volatile.Write(ref _v4, v4);
            Volatile.Write(ref _v6, v6);
        }
    }

    /// <summary>The prefixes <paramref name="value"/> owns, in the order they were given to it (a snapshot).</summary>
    public IEnumerable<IPNetwork> EntriesFor(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        lock (_writeLock)
        {
            return _byOwner.TryGetValue(value, out var list) ? list.ToArray() : [];
        }
    }

    /// <summary>
    /// The owner of the longest prefix containing <paramref name="address"/> (4 bytes IPv4 or 16 bytes IPv6, in
    /// network order), or null. Lock-free and allocation-free.
    /// </summary>
    public T? Lookup(ReadOnlySpan<byte> address) => address.Length switch
    {
        4 => Find(Volatile.Read(ref _v4), (ulong)BinaryPrimitives.ReadUInt32BigEndian(address) << 32, 0),
        16 => Find(Volatile.Read(ref _v6), BinaryPrimitives.ReadUInt64BigEndian(address), BinaryPrimitives.ReadUInt64BigEndian(address[8..])),
        _ => throw new ArgumentException("An address is 4 (IPv4) or 16 (IPv6) bytes.", nameof(address)),
    };

    /// <summary>
    /// The owner of an IP packet's source address (the receive-path check that a peer may send from it), or
    /// null if the packet is not a complete IPv4 (≥ 20 bytes) or IPv6 (≥ 40 bytes) header.
    /// </summary>
    public T? LookupSource(ReadOnlySpan<byte> ipPacket) => LookupInPacket(ipPacket, ipv4Offset: 12, ipv6Offset: 8);

    /// <summary>
    /// The owner of an IP packet's destination address (the send path's choice of peer), or null if the packet is
    /// not a complete IPv4 (≥ 20 bytes) or IPv6 (≥ 40 bytes) header.
    /// </summary>
    public T? LookupDestination(ReadOnlySpan<byte> ipPacket) => LookupInPacket(ipPacket, ipv4Offset: 16, ipv6Offset: 24);

    private T? LookupInPacket(ReadOnlySpan<byte> packet, int ipv4Offset, int ipv6Offset)
    {
        if (packet.IsEmpty)
        {
            return null;
        }
        // The version is the high nibble of the first byte in both headers (RFC 791 §3.1, RFC 8200 §3).
        return (packet[0] >> 4) switch
        {
            4 when packet.Length >= 20 => Lookup(packet.Slice(ipv4Offset, 4)),
            6 when packet.Length >= 40 => Lookup(packet.Slice(ipv6Offset, 16)),
            _ => null,
        };
    }

    private ref Node? RootFor(Key key) => ref key.MaxBits == 32 ? ref _v4 : ref _v6;

    private void RemoveFromIndex(T owner, IPNetwork network)
    {
        if (_byOwner.TryGetValue(owner, out var list))
        {
            list.Remove(network);
            if (list.Count == 0)
            {
                _byOwner.Remove(owner);
            }
        }
    }

    /// <summary>The lookup walk: keep the last owner whose prefix matched, follow the bit after each prefix.</summary>
    private static T? Find(Node? node, ulong hi, ulong lo)
    {
        T? found = null;
        while (node is not null && node.Contains(hi, lo))
        {
            if (node.Value is not null)
            {
                found = node.Value;
            }
            // A full-length prefix selects no bit (both masks zero) and has no children: the walk ends.
            node = node.TakesOne(hi, lo) ? node.One : node.Zero;
        }
        return found;
    }

    /// <summary>Persistent insert: returns the new subtree root, sharing every untouched node with the old one.</summary>
    private static Node InsertInto(Node? node, Key key, T value, out T? previous)
    {
        previous = null;
        if (node is null)
        {
            return new Node(key.Hi, key.Lo, key.Bits, key.MaxBits, value, null, null);
        }

        var common = Math.Min(CommonBits(node.KeyHi, node.KeyLo, key.Hi, key.Lo), key.MaxBits);
        if (node.Bits <= key.Bits && common >= node.Bits)
        {
            // The node's prefix contains the new one: same prefix (change owner) or descend.
            if (node.Bits == key.Bits)
            {
                previous = node.Value;
                return node.With(value, node.Zero, node.One);
            }
            return node.TakesOne(key.Hi, key.Lo)
                ? node.With(node.Value, node.Zero, InsertInto(node.One, key, value, out previous))
                : node.With(node.Value, InsertInto(node.Zero, key, value, out previous), node.One);
        }

        var fresh = new Node(key.Hi, key.Lo, key.Bits, key.MaxBits, value, null, null);
        var split = Math.Min(key.Bits, common);
        if (split == key.Bits)
        {
            // The new prefix contains the node's: it becomes the node's parent.
            return fresh.TakesOne(node.KeyHi, node.KeyLo)
                ? fresh.With(value, null, node)
                : fresh.With(value, node, null);
        }

        // The prefixes diverge at bit `split`: an owner-less branch node there gets one on each side.
        var branch = new Node(key.Hi, key.Lo, split, key.MaxBits, null, null, null);
        return branch.TakesOne(key.Hi, key.Lo)
            ? branch.With(null, node, fresh)
            : branch.With(null, fresh, node);
    }

    /// <summary>Persistent removal of an exact prefix owned by <paramref name="value"/>.</summary>
    private static Node? RemoveFrom(Node? node, Key key, T value, ref bool removed)
    {
        if (node is null || node.Bits > key.Bits || !node.Contains(key.Hi, key.Lo))
        {
            return node;
        }
        if (node.Bits == key.Bits)
        {
            if (!ReferenceEquals(node.Value, value))
            {
                return node;
            }
            removed = true;
            return Compact(node, null, node.Zero, node.One);
        }

        if (node.TakesOne(key.Hi, key.Lo))
        {
            var one = RemoveFrom(node.One, key, value, ref removed);
            return removed ? Compact(node, node.Value, node.Zero, one) : node;
        }
        var zero = RemoveFrom(node.Zero, key, value, ref removed);
        return removed ? Compact(node, node.Value, zero, node.One) : node;
    }

    /// <summary>A node without an owner only exists to branch: with fewer than two children it goes away.</summary>
    private static Node? Compact(Node node, T? value, Node? zero, Node? one)
    {
        if (value is null && (zero is null || one is null))
        {
            return zero ?? one;
        }
        return node.With(value, zero, one);
    }

    private static int CountNodes(Node? node) => node is null ? 0 : 1 + CountNodes(node.Zero) + CountNodes(node.One);

    /// <summary>Equal leading bits of two 128-bit keys.</summary>
    private static int CommonBits(ulong aHi, ulong aLo, ulong bHi, ulong bLo)
    {
        var x = aHi ^ bHi;
        return x != 0 ? BitOperations.LeadingZeroCount(x) : 64 + BitOperations.LeadingZeroCount(aLo ^ bLo);
    }

    /// <summary>
    /// An immutable trie node. Keys are 128-bit, most significant bit first, as two words; an IPv4 address fills
    /// the top 32 bits. The prefix mask and the single "next bit" mask are precomputed so a lookup step is a
    /// handful of ALU operations.
    /// </summary>
    private sealed class Node
    {
        public readonly ulong KeyHi;
        public readonly ulong KeyLo;
        public readonly ulong MaskHi;
        public readonly ulong MaskLo;
        public readonly ulong NextBitHi;
        public readonly ulong NextBitLo;
        public readonly T? Value;
        public readonly Node? Zero;
        public readonly Node? One;
        public readonly int Bits;
        private readonly int _maxBits;

        public Node(ulong hi, ulong lo, int bits, int maxBits, T? value, Node? zero, Node? one)
        {
            Bits = bits;
            _maxBits = maxBits;
            MaskHi = bits == 0 ? 0 : bits >= 64 ? ulong.MaxValue : ulong.MaxValue << (64 - bits);
            MaskLo = bits <= 64 ? 0 : ulong.MaxValue << (128 - bits);
            KeyHi = hi & MaskHi;
            KeyLo = lo & MaskLo;
            if (bits < maxBits)
            {
                NextBitHi = bits < 64 ? 1UL << (63 - bits) : 0;
                NextBitLo = bits >= 64 ? 1UL << (127 - bits) : 0;
            }
            Value = value;
            Zero = zero;
            One = one;
        }

        public Node With(T? value, Node? zero, Node? one) => new(KeyHi, KeyLo, Bits, _maxBits, value, zero, one);

        /// <summary>The address lies in this node's prefix.</summary>
        public bool Contains(ulong hi, ulong lo) => (((hi ^ KeyHi) & MaskHi) | ((lo ^ KeyLo) & MaskLo)) == 0;

        /// <summary>The bit right after this node's prefix is set in the address.</summary>
        public bool TakesOne(ulong hi, ulong lo) => ((hi & NextBitHi) | (lo & NextBitLo)) != 0;
    }

    /// <summary>A prefix as a masked 128-bit key.</summary>
    private readonly record struct Key(ulong Hi, ulong Lo, int Bits, int MaxBits)
    {
        public static Key From(IPNetwork prefix)
        {
            var address = prefix.BaseAddress;
            Span<byte> bytes = stackalloc byte[16];
            if (!address.TryWriteBytes(bytes, out var written))
            {
                throw new ArgumentException("Not an IP prefix.", nameof(prefix));
            }
            var bits = prefix.PrefixLength;
            var key = (address.AddressFamily, written) switch
            {
                (AddressFamily.InterNetwork, 4) when bits is >= 0 and <= 32 =>
                    new Key((ulong)BinaryPrimitives.ReadUInt32BigEndian(bytes) << 32, 0, bits, 32),
                (AddressFamily.InterNetworkV6, 16) when bits is >= 0 and <= 128 =>
                    new Key(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]), bits, 128),
                _ => throw new ArgumentException($"Not an IPv4 or IPv6 prefix: {prefix}.", nameof(prefix)),
            };
            // Mask off host bits as wg does (10.0.0.1/24 is stored as 10.0.0.0/24). IPNetwork canonicalises its
            // base address itself on current .NET; masking here keeps the trie's invariant independent of that.
            var maskHi = bits == 0 ? 0 : bits >= 64 ? ulong.MaxValue : ulong.MaxValue << (64 - bits);
            var maskLo = bits <= 64 ? 0 : ulong.MaxValue << (128 - bits);
            return key with { Hi = key.Hi & maskHi, Lo = key.Lo & maskLo };
        }

        public IPNetwork ToNetwork()
        {
            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, Hi);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Lo);
            var address = MaxBits == 32 ? new IPAddress(bytes[..4]) : new IPAddress(bytes);
            return new IPNetwork(address, Bits);
        }
    }
}
