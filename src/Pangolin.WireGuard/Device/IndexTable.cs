using System.Collections.Concurrent;
using System.Security.Cryptography;
using Pangolin.WireGuard.Noise;
using Pangolin.WireGuard.Peers;

namespace Pangolin.WireGuard.Device;

/// <summary>What a 32-bit index names: a peer's handshake in progress, or one of its sessions.</summary>
internal readonly record struct IndexEntry(Peer Peer, Keypair? Keypair);

/// <summary>
/// The receiver indices (§5.4.2) this device handed out. Indices are random, so that an observer learns nothing
/// from them, and unique among live ones.
/// </summary>
internal sealed class IndexTable
{
    private readonly ConcurrentDictionary<uint, IndexEntry> _entries = new();

    public int Count => _entries.Count;

    public uint NewIndex(Peer peer, Keypair? keypair)
    {
        Span<byte> random = stackalloc byte[4];
        while (true)
        {
            RandomNumberGenerator.Fill(random);
            var index = BitConverter.ToUInt32(random);
            if (index != 0 && _entries.TryAdd(index, new IndexEntry(peer, keypair)))
            {
                return index;
            }
        }
    }

    /// <summary>Claims a chosen index (fuzzing and tests need fixed ones); returns it.</summary>
    internal uint NewIndexAt(uint index, Peer peer)
    {
        _entries[index] = new IndexEntry(peer, null);
        return index;
    }

    /// <summary>A finished handshake's index now names its session (wireguard-go's SwapIndexForKeypair).</summary>
    public void Assign(uint index, Keypair keypair)
    {
        if (_entries.TryGetValue(index, out var entry))
        {
            _entries[index] = entry with { Keypair = keypair };
        }
    }

    public bool TryGet(uint index, out IndexEntry entry) => _entries.TryGetValue(index, out entry);

    public void Remove(uint index)
    {
        if (index != 0)
        {
            _entries.TryRemove(index, out _);
        }
    }
}
