using System.Runtime.Versioning;

// TUN devices, the UAPI socket, netlink-free iproute2 calls and Unix file modes: gerbil runs on Linux only.
[assembly: SupportedOSPlatform("linux")]
