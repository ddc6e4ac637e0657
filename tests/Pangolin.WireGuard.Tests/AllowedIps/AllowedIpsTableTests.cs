using System.Buffers.Binary;
using System.Net;
using Pangolin.WireGuard.AllowedIps;

namespace Pangolin.WireGuard.Tests.AllowedIps;

public sealed class AllowedIpsTableTests
{
    private sealed class Peer(string name)
    {
        public override string ToString() => name;
    }

    [Fact]
    public void The_IPv4_cases_of_wireguard_gos_allowedips_test_pass()
    {
        // Ported from wireguard-go device/allowedips_test.go TestTrieIPv4 (itself from the kernel's selftest).
        Peer a = new("a"), b = new("b"), c = new("c"), d = new("d"), e = new("e"), g = new("g"), h = new("h");
        var table = new AllowedIpsTable<Peer>();
        void Insert(Peer peer, byte w, byte x, byte y, byte z, int cidr) => table.Insert(V4(w, x, y, z, cidr), peer);
        void Remove(Peer peer, byte w, byte x, byte y, byte z, int cidr) => table.Remove(V4(w, x, y, z, cidr), peer);
        void AssertEq(Peer peer, byte w, byte x, byte y, byte z) => Assert.Same(peer, table.Lookup([w, x, y, z]));
        void AssertNeq(Peer peer, byte w, byte x, byte y, byte z) => Assert.NotSame(peer, table.Lookup([w, x, y, z]));

        Insert(a, 192, 168, 4, 0, 24);
        Insert(b, 192, 168, 4, 4, 32);
        Insert(c, 192, 168, 0, 0, 16);
        Insert(d, 192, 95, 5, 64, 27);
        Insert(c, 192, 95, 5, 65, 27);   // same /27 as d's (host bits differ): c takes it over
        Insert(e, 0, 0, 0, 0, 0);
        Insert(g, 64, 15, 112, 0, 20);
        Insert(h, 64, 15, 123, 211, 25);
        Insert(a, 10, 0, 0, 0, 25);
        Insert(b, 10, 0, 0, 128, 25);
        Insert(a, 10, 1, 0, 0, 30);
        Insert(b, 10, 1, 0, 4, 30);
        Insert(c, 10, 1, 0, 8, 29);
        Insert(d, 10, 1, 0, 16, 29);

        AssertEq(a, 192, 168, 4, 20);
        AssertEq(a, 192, 168, 4, 0);
        AssertEq(b, 192, 168, 4, 4);
        AssertEq(c, 192, 168, 200, 182);
        AssertEq(c, 192, 95, 5, 68);
        AssertEq(e, 192, 95, 5, 96);
        AssertEq(g, 64, 15, 116, 26);
        AssertEq(g, 64, 15, 127, 3);

        Insert(a, 1, 0, 0, 0, 32);
        Insert(a, 64, 0, 0, 0, 32);
        Insert(a, 128, 0, 0, 0, 32);
        Insert(a, 192, 0, 0, 0, 32);
        Insert(a, 255, 0, 0, 0, 32);

        AssertEq(a, 1, 0, 0, 0);
        AssertEq(a, 64, 0, 0, 0);
        AssertEq(a, 128, 0, 0, 0);
        AssertEq(a, 192, 0, 0, 0);
        AssertEq(a, 255, 0, 0, 0);

        table.RemoveAll(a);

        AssertNeq(a, 1, 0, 0, 0);
        AssertNeq(a, 64, 0, 0, 0);
        AssertNeq(a, 128, 0, 0, 0);
        AssertNeq(a, 192, 0, 0, 0);
        AssertNeq(a, 255, 0, 0, 0);

        table.RemoveAll(a);
        table.RemoveAll(b);
        table.RemoveAll(c);
        table.RemoveAll(d);
        table.RemoveAll(e);
        table.RemoveAll(g);
        table.RemoveAll(h);
        Assert.True(table.IsEmpty, "removing all the peers empties the trie");

        Insert(a, 192, 168, 0, 0, 16);
        Insert(a, 192, 168, 0, 0, 24);
        table.RemoveAll(a);
        AssertNeq(a, 192, 168, 0, 1);

        var nobody = new Peer("nobody");   // wireguard-go passes nil here
        Insert(a, 1, 0, 0, 0, 32);
        Insert(a, 192, 0, 0, 0, 24);
        AssertEq(a, 1, 0, 0, 0);
        AssertEq(a, 192, 0, 0, 1);
        Remove(a, 192, 0, 0, 0, 32);
        AssertEq(a, 192, 0, 0, 1);
        Remove(nobody, 192, 0, 0, 0, 24);
        AssertEq(a, 192, 0, 0, 1);
        Remove(b, 192, 0, 0, 0, 24);
        AssertEq(a, 192, 0, 0, 1);
        Remove(a, 192, 0, 0, 0, 24);
        AssertNeq(a, 192, 0, 0, 1);
        Remove(a, 1, 0, 0, 0, 32);
        AssertNeq(a, 1, 0, 0, 0);
        Assert.True(table.IsEmpty);
    }

    [Fact]
    public void The_IPv6_cases_of_wireguard_gos_allowedips_test_pass()
    {
        // Ported from wireguard-go device/allowedips_test.go TestTrieIPv6.
        Peer a = new("a"), b = new("b"), c = new("c"), d = new("d"), e = new("e"), f = new("f"), g = new("g"), h = new("h");
        var table = new AllowedIpsTable<Peer>();
        void Insert(Peer peer, uint w, uint x, uint y, uint z, int cidr) => table.Insert(new IPNetwork(new IPAddress(V6(w, x, y, z)), cidr), peer);
        void Remove(Peer peer, uint w, uint x, uint y, uint z, int cidr) => table.Remove(new IPNetwork(new IPAddress(V6(w, x, y, z)), cidr), peer);
        void AssertEq(Peer peer, uint w, uint x, uint y, uint z) => Assert.Same(peer, table.Lookup(V6(w, x, y, z)));
        void AssertNeq(Peer peer, uint w, uint x, uint y, uint z) => Assert.NotSame(peer, table.Lookup(V6(w, x, y, z)));

        Insert(d, 0x26075300, 0x60006b00, 0, 0xc05f0543, 128);
        Insert(c, 0x26075300, 0x60006b00, 0, 0, 64);
        Insert(e, 0, 0, 0, 0, 0);
        Insert(f, 0, 0, 0, 0, 0);
        Insert(g, 0x24046800, 0, 0, 0, 32);
        Insert(h, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef, 64);
        Insert(a, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef, 128);
        Insert(c, 0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
        Insert(b, 0x24446800, 0xf0e40800, 0xeeaebeef, 0, 98);

        AssertEq(d, 0x26075300, 0x60006b00, 0, 0xc05f0543);
        AssertEq(c, 0x26075300, 0x60006b00, 0, 0xc02e01ee);
        AssertEq(f, 0x26075300, 0x60006b01, 0, 0);
        AssertEq(g, 0x24046800, 0x40040806, 0, 0x1006);
        AssertEq(g, 0x24046800, 0x40040806, 0x1234, 0x5678);
        AssertEq(f, 0x240467ff, 0x40040806, 0x1234, 0x5678);
        AssertEq(f, 0x24046801, 0x40040806, 0x1234, 0x5678);
        AssertEq(h, 0x24046800, 0x40040800, 0x1234, 0x5678);
        AssertEq(h, 0x24046800, 0x40040800, 0, 0);
        AssertEq(h, 0x24046800, 0x40040800, 0x10101010, 0x10101010);
        AssertEq(a, 0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef);

        var nobody = new Peer("nobody");   // wireguard-go passes nil here
        Insert(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
        Insert(a, 0x24446800, 0xf0e40800, 0xeeaebeef, 0, 98);
        AssertEq(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef);
        AssertEq(a, 0x24446800, 0xf0e40800, 0xeeaebeef, 0x10101010);
        Remove(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef, 96);
        AssertEq(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef);
        Remove(nobody, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
        AssertEq(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef);
        Remove(b, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
        AssertEq(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef);
        Remove(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef, 128);
        AssertNeq(a, 0x24446801, 0x40e40800, 0xdeaebeef, 0xdefbeef);
        Remove(b, 0x24446800, 0xf0e40800, 0xeeaebeef, 0, 98);
        AssertEq(a, 0x24446800, 0xf0e40800, 0xeeaebeef, 0x10101010);
        Remove(a, 0x24446800, 0xf0e40800, 0xeeaebeef, 0, 98);
        AssertNeq(a, 0x24446800, 0xf0e40800, 0xeeaebeef, 0x10101010);
    }

    [Fact]
    public void Host_bits_are_masked_off_and_an_identical_prefix_changes_owner()
    {
        var a = new Peer("a");
        var b = new Peer("b");
        var table = new AllowedIpsTable<Peer>();
        table.Insert(new IPNetwork(IPAddress.Parse("10.1.2.3"), 16), a);
        Assert.Same(a, table.Lookup([10, 1, 200, 200]));
        Assert.Equal([IPNetwork.Parse("10.1.0.0/16")], table.EntriesFor(a));

        table.Insert(IPNetwork.Parse("10.1.0.0/16"), b);
        Assert.Same(b, table.Lookup([10, 1, 200, 200]));
        Assert.Empty(table.EntriesFor(a));
        Assert.Equal([IPNetwork.Parse("10.1.0.0/16")], table.EntriesFor(b));

        Assert.False(table.Remove(IPNetwork.Parse("10.1.0.0/16"), a));
        Assert.Same(b, table.Lookup([10, 1, 0, 1]));
        Assert.True(table.Remove(IPNetwork.Parse("10.1.9.9/16"), b));
        Assert.Null(table.Lookup([10, 1, 0, 1]));
        Assert.Empty(table.EntriesFor(b));
        Assert.True(table.IsEmpty);
    }

    [Fact]
    public void EntriesFor_lists_an_owners_prefixes_of_both_families_in_insertion_order()
    {
        var a = new Peer("a");
        var b = new Peer("b");
        var table = new AllowedIpsTable<Peer>();
        IPNetwork[] mine = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("fd00::/64"), IPNetwork.Parse("192.168.1.1/32"), IPNetwork.Parse("::/0")];
        foreach (var network in mine)
        {
            table.Insert(network, a);
        }
        table.Insert(IPNetwork.Parse("10.9.0.0/16"), b);
        table.Insert(mine[1], a);   // re-inserting with the same owner changes nothing

        Assert.Equal(mine, table.EntriesFor(a));
        Assert.Equal([IPNetwork.Parse("10.9.0.0/16")], table.EntriesFor(b));
        Assert.Empty(table.EntriesFor(new Peer("c")));

        table.RemoveAll(a);
        Assert.Empty(table.EntriesFor(a));
        Assert.Null(table.Lookup(IPAddress.Parse("fd00::1").GetAddressBytes()));
        Assert.Same(b, table.Lookup([10, 9, 1, 1]));
        Assert.Null(table.Lookup([10, 8, 1, 1]));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(16)]
    public void Random_prefixes_and_lookups_agree_with_a_brute_force_reference(int addressLength)
    {
        var random = new Random(addressLength == 4 ? 20260401 : 20260402);
        var maxBits = addressLength * 8;
        var peers = Enumerable.Range(0, 100).Select(i => new Peer($"peer{i}")).ToArray();
        var table = new AllowedIpsTable<Peer>();
        var reference = new BruteForce();
        var inserted = new List<(byte[] Address, int Bits)>();

        for (var i = 0; i < 1000; i++)
        {
            var address = new byte[addressLength];
            random.NextBytes(address);
            // Mostly long prefixes with some short ones, so that nesting and splitting happen a lot.
            var bits = random.Next(4) == 0 ? random.Next(maxBits + 1) : maxBits - random.Next(Math.Min(24, maxBits) + 1);
            var peer = peers[random.Next(peers.Length)];
            table.Insert(new IPNetwork(new IPAddress(address), bits), peer);
            reference.Insert(address, bits, peer);
            inserted.Add((address, bits));
        }
        CompareLookups(table, reference, inserted, random, addressLength);
        Assert.True(table.NodeCount <= 2 * reference.Count, $"{table.NodeCount} nodes for {reference.Count} prefixes");

        // Remove a third of the prefixes (half of those attempts by the wrong owner), then drop ten owners.
        for (var i = 0; i < 333; i++)
        {
            var (address, bits) = inserted[random.Next(inserted.Count)];
            var owner = reference.ExactOwner(address, bits);
            var claimant = random.Next(2) == 0 && owner is not null ? owner : peers[random.Next(peers.Length)];
            var removed = table.Remove(new IPNetwork(new IPAddress(address), bits), claimant);
            Assert.Equal(reference.Remove(address, bits, claimant), removed);
        }
        foreach (var peer in peers.Take(10))
        {
            table.RemoveAll(peer);
            reference.RemoveAll(peer);
        }
        CompareLookups(table, reference, inserted, random, addressLength);
        Assert.True(table.NodeCount <= 2 * reference.Count, $"{table.NodeCount} nodes for {reference.Count} prefixes");

        foreach (var peer in peers)
        {
            var expected = reference.EntriesFor(peer).Select(entry => new IPNetwork(new IPAddress(entry.Address), entry.Bits)).ToHashSet();
            Assert.True(expected.SetEquals(table.EntriesFor(peer)), $"entries of {peer}");
        }
    }

    [Fact]
    public void Lookups_read_addresses_out_of_IPv4_and_IPv6_packets()
    {
        var src = new Peer("src");
        var dst = new Peer("dst");
        var table = new AllowedIpsTable<Peer>();
        table.Insert(IPNetwork.Parse("10.0.0.1/32"), src);
        table.Insert(IPNetwork.Parse("10.0.0.2/32"), dst);
        table.Insert(IPNetwork.Parse("fd00::1/128"), src);
        table.Insert(IPNetwork.Parse("fd00::2/128"), dst);

        var v4 = new byte[20];
        v4[0] = 0x45;
        new byte[] { 10, 0, 0, 1 }.CopyTo(v4, 12);
        new byte[] { 10, 0, 0, 2 }.CopyTo(v4, 16);
        Assert.Same(src, table.LookupSource(v4));
        Assert.Same(dst, table.LookupDestination(v4));

        var v6 = new byte[40];
        v6[0] = 0x60;
        IPAddress.Parse("fd00::1").GetAddressBytes().CopyTo(v6, 8);
        IPAddress.Parse("fd00::2").GetAddressBytes().CopyTo(v6, 24);
        Assert.Same(src, table.LookupSource(v6));
        Assert.Same(dst, table.LookupDestination(v6));

        Assert.Null(table.LookupSource(v4.AsSpan(0, 19)));
        Assert.Null(table.LookupDestination(v6.AsSpan(0, 39)));
        Assert.Null(table.LookupSource([]));
        var wrongVersion = v4.ToArray();
        wrongVersion[0] = 0x55;
        Assert.Null(table.LookupDestination(wrongVersion));
        var v6HeaderAsV4 = v6.ToArray();
        v6HeaderAsV4[0] = 0x45;   // reads 4-byte addresses at the IPv4 offsets: nothing there
        Assert.Null(table.LookupSource(v6HeaderAsV4));
    }

    [Fact]
    public void A_lookup_needs_a_4_or_16_byte_address()
    {
        var table = new AllowedIpsTable<Peer>();
        Assert.Throws<ArgumentException>(() => table.Lookup(new byte[5]));
        Assert.Null(table.Lookup(new byte[4]));
        Assert.Null(table.Lookup(new byte[16]));
    }

    [Fact]
    public void Lookups_allocate_nothing()
    {
        var table = new AllowedIpsTable<Peer>();
        var random = new Random(1);
        var peers = Enumerable.Range(0, 10).Select(i => new Peer($"p{i}")).ToArray();
        for (var i = 0; i < 500; i++)
        {
            var v4 = new byte[4];
            random.NextBytes(v4);
            table.Insert(new IPNetwork(new IPAddress(v4), random.Next(8, 33)), peers[i % peers.Length]);
            var v6 = new byte[16];
            random.NextBytes(v6);
            table.Insert(new IPNetwork(new IPAddress(v6), random.Next(16, 129)), peers[i % peers.Length]);
        }
        var packet = new byte[40];
        packet[0] = 0x60;
        Span<byte> address4 = stackalloc byte[4];
        Span<byte> address16 = stackalloc byte[16];
        table.Lookup(address4);
        table.LookupSource(packet);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            BinaryPrimitives.WriteInt32BigEndian(address4, i * 7919);
            BinaryPrimitives.WriteInt32BigEndian(address16, i * 104729);
            table.Lookup(address4);
            table.Lookup(address16);
            table.LookupSource(packet);
            table.LookupDestination(packet);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task Concurrent_lookups_see_a_consistent_table_while_it_is_being_updated()
    {
        var stable = new Peer("stable");
        var churn = new Peer("churn");
        var table = new AllowedIpsTable<Peer>();
        table.Insert(IPNetwork.Parse("10.0.0.0/8"), stable);
        table.Insert(IPNetwork.Parse("fd00::/16"), stable);
        using var done = new CancellationTokenSource();
        var failures = 0;
        var lookups = 0L;

        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            byte[] inside = [10, 20, 30, 40];
            var inside6 = IPAddress.Parse("fd00:1::1").GetAddressBytes();
            while (!done.IsCancellationRequested)
            {
                // 10.20.30.0/24 comes and goes (owned by churn); everything else in 10/8 is always stable's.
                var owner = table.Lookup(inside);
                if (owner != stable && owner != churn)
                {
                    Interlocked.Increment(ref failures);
                }
                if (table.Lookup([10, 99, 1, 1]) != stable || table.Lookup(inside6) != stable)
                {
                    Interlocked.Increment(ref failures);
                }
                Interlocked.Increment(ref lookups);
            }
        })).ToArray();

        // On a busy machine the readers may not run before a short update loop ends: start once both read.
        Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref lookups) > 2, TimeSpan.FromSeconds(30)), "the readers started");
        var random = new Random(7);
        for (var i = 0; i < 3000; i++)
        {
            table.Insert(IPNetwork.Parse("10.20.30.0/24"), churn);
            table.Insert(new IPNetwork(new IPAddress([10, (byte)random.Next(256), (byte)random.Next(256), 0]), 24), churn);
            table.Insert(new IPNetwork(new IPAddress([0xfd, 0, 0, 0, (byte)random.Next(256), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 48), churn);
            table.Remove(IPNetwork.Parse("10.20.30.0/24"), churn);
            if (i % 100 == 99)
            {
                table.RemoveAll(churn);
            }
        }
        await done.CancelAsync();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, failures);
        Assert.True(Interlocked.Read(ref lookups) > 0);
    }

    private static IPNetwork V4(byte a, byte b, byte c, byte d, int cidr) => new(new IPAddress([a, b, c, d]), cidr);

    private static byte[] V6(uint a, uint b, uint c, uint d)
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, a);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), b);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), c);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), d);
        return bytes;
    }

    private static void CompareLookups(AllowedIpsTable<Peer> table, BruteForce reference, List<(byte[] Address, int Bits)> inserted, Random random, int addressLength)
    {
        for (var i = 0; i < 10_000; i++)
        {
            var address = new byte[addressLength];
            random.NextBytes(address);
            if (i % 2 == 0)
            {
                // Half the probes land inside a stored prefix, with random host bits.
                var (prefix, bits) = inserted[random.Next(inserted.Count)];
                for (var bit = 0; bit < bits; bit++)
                {
                    var mask = (byte)(0x80 >> (bit % 8));
                    address[bit / 8] = (byte)((address[bit / 8] & ~mask) | (prefix[bit / 8] & mask));
                }
            }
            Assert.Same(reference.Lookup(address), table.Lookup(address));
        }
    }

    /// <summary>A list of (masked prefix, owner) searched linearly for the longest match.</summary>
    private sealed class BruteForce
    {
        private readonly List<(byte[] Address, int Bits, Peer Owner)> _entries = [];

        public void Insert(byte[] address, int bits, Peer owner)
        {
            var masked = Mask(address, bits);
            var index = _entries.FindIndex(entry => entry.Bits == bits && entry.Address.AsSpan().SequenceEqual(masked));
            if (index >= 0)
            {
                _entries[index] = (masked, bits, owner);
            }
            else
            {
                _entries.Add((masked, bits, owner));
            }
        }

        public Peer? ExactOwner(byte[] address, int bits)
        {
            var masked = Mask(address, bits);
            return _entries.FirstOrDefault(entry => entry.Bits == bits && entry.Address.AsSpan().SequenceEqual(masked)).Owner;
        }

        public bool Remove(byte[] address, int bits, Peer owner)
        {
            var masked = Mask(address, bits);
            return _entries.RemoveAll(entry => entry.Bits == bits && entry.Owner == owner && entry.Address.AsSpan().SequenceEqual(masked)) > 0;
        }

        public int Count => _entries.Count;

        public void RemoveAll(Peer owner) => _entries.RemoveAll(entry => entry.Owner == owner);

        public IEnumerable<(byte[] Address, int Bits)> EntriesFor(Peer owner) =>
            _entries.Where(entry => entry.Owner == owner).Select(entry => (entry.Address, entry.Bits));

        public Peer? Lookup(byte[] address)
        {
            Peer? best = null;
            var bestBits = -1;
            foreach (var (prefix, bits, owner) in _entries)
            {
                if (bits > bestBits && Mask(address, bits).AsSpan().SequenceEqual(prefix))
                {
                    best = owner;
                    bestBits = bits;
                }
            }
            return best;
        }

        private static byte[] Mask(byte[] address, int bits)
        {
            var masked = new byte[address.Length];
            for (var bit = 0; bit < bits; bit++)
            {
                masked[bit / 8] |= (byte)(address[bit / 8] & (0x80 >> (bit % 8)));
            }
            return masked;
        }
    }
}
