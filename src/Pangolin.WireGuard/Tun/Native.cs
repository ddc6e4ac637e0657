using System.Runtime.InteropServices;

namespace Pangolin.WireGuard.Tun;

/// <summary>TUN ioctls and struct ifreq (linux/if_tun.h, linux/sockios.h, net/if.h).</summary>
internal static unsafe class TunNative
{
    /// <summary>Interface names are at most 15 bytes and a NUL.</summary>
    public const int IFNAMSIZ = 16;

    /// <summary>_IOW('T', 202, int): attach the fd to a (new) TUN/TAP interface.</summary>
    public const nuint TUNSETIFF = 0x400454ca;

    /// <summary>_IOR('T', 210, unsigned int): the name and flags of the interface the fd is attached to.</summary>
    public const nuint TUNGETIFF = 0x800454d2;

    public const nuint SIOCGIFMTU = 0x8921;
    public const nuint SIOCSIFMTU = 0x8922;

    /// <summary>A layer-3 device: reads and writes are bare IP packets.</summary>
    public const short IFF_TUN = 0x0001;

    /// <summary>No 4-byte packet-information header in front of each packet.</summary>
    public const short IFF_NO_PI = 0x1000;

    /// <summary>A struct virtio_net_hdr in front of each packet: segmentation and checksum offload.</summary>
    public const short IFF_VNET_HDR = 0x4000;

    /// <summary>_IOW('T', 208, unsigned int): the offloads the kernel may hand us (TUN_F_*).</summary>
    public const nuint TUNSETOFFLOAD = 0x400454d0;

    public const uint TUN_F_CSUM = 0x01;
    public const uint TUN_F_TSO4 = 0x02;
    public const uint TUN_F_TSO6 = 0x04;

    /// <summary>The kernel's TUN device refuses nothing about the MTU except this floor (IPv4's 68) and 64 KiB.</summary>
    public const int MinimumMtu = 68;

    public const int MaximumMtu = 65535;

    /// <summary>struct ifreq: a name, then a 24-byte union of which we use the flags and the MTU.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct IfReq
    {
        [FieldOffset(0)]
        public fixed byte Name[IFNAMSIZ];

        [FieldOffset(16)]
        public short Flags;

        [FieldOffset(16)]
        public int Mtu;

        public void SetName(string name)
        {
            fixed (byte* destination = Name)
            {
                var span = new Span<byte>(destination, IFNAMSIZ);
                span.Clear();
                // Validated by the caller: ASCII, at most 15 bytes, so the last byte stays the terminating NUL.
                System.Text.Encoding.ASCII.GetBytes(name, span);
            }
        }

        public readonly string GetName()
        {
            fixed (byte* source = Name)
            {
                var span = new ReadOnlySpan<byte>(source, IFNAMSIZ);
                var end = span.IndexOf((byte)0);
                return System.Text.Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
            }
        }
    }
}
