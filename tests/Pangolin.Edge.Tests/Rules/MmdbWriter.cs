using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pangolin.Edge.Tests.Rules;

/// <summary>
/// Just enough of a MaxMind DB writer (MaxMind DB File Format Specification 2.0) to give the real reader small test
/// files: an IPv6 search tree (IPv4 networks under <c>::a.b.c.d</c>, as the spec lays out IPv4 in an IPv6 tree),
/// 24-bit records, no pointers in the data section, and the metadata map after the <c>\xAB\xCD\xEFMaxMind.com</c>
/// marker. Records are maps of strings, unsigned integers, maps and arrays.
/// </summary>
internal sealed class MmdbWriter(string databaseType)
{
    private static readonly byte[] MetadataMarker = [0xAB, 0xCD, 0xEF, .. "MaxMind.com"u8];

    private readonly Node _root = new();
    private readonly List<object> _records = [];

    /// <summary>Adds <paramref name="record"/> for the network <paramref name="cidr"/>; more specific networks may follow.</summary>
    public MmdbWriter Add(string cidr, object record)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        var address = IPAddress.Parse(cidr[..slash]);
        var prefix = int.Parse(cidr[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Span<byte> bits = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            // §"IPv4 addresses in an IPv6 tree": the IPv4 space is ::0:0/96.
            address.TryWriteBytes(bits[12..], out _);
            prefix += 96;
        }
        else
        {
            address.TryWriteBytes(bits, out _);
        }

        _records.Add(record);
        var data = new DataRef(_records.Count - 1);
        var node = _root;
        for (var i = 0; i < prefix; i++)
        {
            var right = (bits[i / 8] & (0x80 >> (i % 8))) != 0;
            if (i == prefix - 1)
            {
                node.Set(right, data);
                break;
            }

            var child = node.Get(right);
            if (child is not Node next)
            {
                // Empty, or a less specific network's data that now splits: both halves keep it.
                next = new Node { Left = child, Right = child };
                node.Set(right, next);
            }

            node = next;
        }

        return this;
    }

    public void Write(string path) => File.WriteAllBytes(path, Build());

    public byte[] Build()
    {
        // Nodes numbered breadth first, the root 0.
        var nodes = new List<Node> { _root };
        for (var i = 0; i < nodes.Count; i++)
        {
            foreach (var child in new[] { nodes[i].Left, nodes[i].Right })
            {
                if (child is Node n && !nodes.Contains(n))
                {
                    nodes.Add(n);
                }
            }
        }

        var data = new MemoryStream();
        var offsets = new int[_records.Count];
        for (var i = 0; i < _records.Count; i++)
        {
            offsets[i] = (int)data.Length;
            Encode(data, _records[i]);
        }

        var nodeCount = nodes.Count;
        var output = new MemoryStream();
        Span<byte> node = stackalloc byte[6];
        foreach (var n in nodes)
        {
            WriteUInt24(node, Record(n.Left));
            WriteUInt24(node[3..], Record(n.Right));
            output.Write(node);
        }

        // §"Data Section Separator": 16 zero bytes between the tree and the data section.
        output.Write(new byte[16]);
        data.Position = 0;
        data.CopyTo(output);
        output.Write(MetadataMarker);
        Encode(output, new Dictionary<string, object>
        {
            ["node_count"] = (uint)nodeCount,
            ["record_size"] = (ushort)24,
            ["ip_version"] = (ushort)6,
            ["database_type"] = databaseType,
            ["languages"] = new object[] { "en" },
            ["binary_format_major_version"] = (ushort)2,
            ["binary_format_minor_version"] = (ushort)0,
            ["build_epoch"] = (ulong)1_700_000_000,
            ["description"] = new Dictionary<string, object> { ["en"] = "Pangolin test database" },
        });
        return output.ToArray();

        // §"Search Tree Section": a node number, the node count for "no data", or node count + 16 + offset for data.
        uint Record(object? child) => child switch
        {
            Node n => (uint)nodes.IndexOf(n),
            DataRef d => (uint)(nodeCount + 16 + offsets[d.Index]),
            _ => (uint)nodeCount,
        };
    }

    private static void WriteUInt24(Span<byte> destination, uint value)
    {
        destination[0] = (byte)(value >> 16);
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)value;
    }

    /// <summary>§"Output Data Section": a control byte with the type (3 bits) and the size (5 bits), extended as needed.</summary>
    private static void Encode(Stream output, object value)
    {
        switch (value)
        {
            case string s:
                var utf8 = Encoding.UTF8.GetBytes(s);
                WriteControl(output, 2, utf8.Length);
                output.Write(utf8);
                break;
            case ushort u16:
                WriteUnsigned(output, 5, u16);
                break;
            case uint u32:
                WriteUnsigned(output, 6, u32);
                break;
            case ulong u64:
                WriteUnsigned(output, 9, u64);
                break;
            case Dictionary<string, object> map:
                WriteControl(output, 7, map.Count);
                foreach (var (key, item) in map)
                {
                    Encode(output, key);
                    Encode(output, item);
                }

                break;
            case object[] array:
                WriteControl(output, 11, array.Length);
                foreach (var item in array)
                {
                    Encode(output, item);
                }

                break;
            default:
                throw new ArgumentException($"Cannot encode {value.GetType().Name}.", nameof(value));
        }
    }

    /// <summary>Unsigned integers are big-endian without leading zero bytes; the size is the byte count.</summary>
    private static void WriteUnsigned(Stream output, int type, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        var length = 8 - (System.Numerics.BitOperations.LeadingZeroCount(value) / 8);
        WriteControl(output, type, length);
        output.Write(bytes[(8 - length)..]);
    }

    private static void WriteControl(Stream output, int type, int size)
    {
        // Types above 7 are "extended": 0 in the control byte, type - 7 in the next byte, then the size bytes.
        var typeBits = type <= 7 ? type << 5 : 0;
        Span<byte> sizeBytes = stackalloc byte[3];
        int sizeBits, extra;
        if (size < 29)
        {
            (sizeBits, extra) = (size, 0);
        }
        else if (size < 29 + 256)
        {
            (sizeBits, extra) = (29, 1);
            sizeBytes[0] = (byte)(size - 29);
        }
        else if (size < 285 + 65536)
        {
            (sizeBits, extra) = (30, 2);
            BinaryPrimitives.WriteUInt16BigEndian(sizeBytes, (ushort)(size - 285));
        }
        else
        {
            (sizeBits, extra) = (31, 3);
            WriteUInt24(sizeBytes, (uint)(size - 65821));
        }

        output.WriteByte((byte)(typeBits | sizeBits));
        if (type > 7)
        {
            output.WriteByte((byte)(type - 7));
        }

        output.Write(sizeBytes[..extra]);
    }

    private sealed class Node
    {
        public object? Left { get; set; }

        public object? Right { get; set; }

        public object? Get(bool right) => right ? Right : Left;

        public void Set(bool right, object? child)
        {
            if (right)
            {
                Right = child;
            }
            else
            {
                Left = child;
            }
        }
    }

    private sealed record DataRef(int Index);
}
