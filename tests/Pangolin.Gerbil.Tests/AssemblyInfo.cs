using System.Runtime.Versioning;

// gerbil is Linux-only (TUN, UAPI, Unix file modes), and so are its tests (namespaces, ip, kill).
[assembly: SupportedOSPlatform("linux")]
