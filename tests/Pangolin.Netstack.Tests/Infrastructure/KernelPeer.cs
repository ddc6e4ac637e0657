using System.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// The Linux kernel as the stack's peer: a namespace whose TUN ("pnt0") holds the kernel's addresses
/// (10.8.0.1/24, fd00:8::1/64) while our stack, on the other end of the TUN, holds 10.8.0.2 and fd00:8::2.
/// </summary>
public sealed class KernelPeer : IDisposable
{
    public static readonly IPAddress KernelV4 = IPAddress.Parse("10.8.0.1");
    public static readonly IPAddress StackV4 = IPAddress.Parse("10.8.0.2");
    public static readonly IPAddress KernelV6 = IPAddress.Parse("fd00:8::1");
    public static readonly IPAddress StackV6 = IPAddress.Parse("fd00:8::2");
    public const string Interface = "pnt0";

    private KernelPeer(NetworkNamespace ns, TunLink link, NetworkStack stack)
    {
        Namespace = ns;
        Link = link;
        Stack = stack;
    }

    public NetworkNamespace Namespace { get; }

    public TunLink Link { get; }

    public NetworkStack Stack { get; }

    public static KernelPeer Create(int mtu = 1420, NetworkStackOptions? options = null)
    {
        var ns = NetworkNamespace.Create();
        TunLink? link = null;
        try
        {
            link = new TunLink(ns.Name, Interface, mtu);
            ns.AddAddress(Interface, KernelV4 + "/24");
            ns.AddAddress(Interface, KernelV6 + "/64");
            ns.SetUp(Interface);
            var stack = new NetworkStack(link, options);
            stack.AddAddress(StackV4);
            stack.AddAddress(StackV6);
            link.Attach(stack);
            return new KernelPeer(ns, link, stack);
        }
        catch
        {
            link?.Dispose();
            ns.Dispose();
            throw;
        }
    }

    /// <summary>Runs a command in the kernel's namespace; (exit code, output).</summary>
    public (int ExitCode, string Output) Run(params string[] command)
    {
        var (code, output, error) = NetworkNamespace.TryRun("ip", ["netns", "exec", Namespace.Name, .. command]);
        return (code, output + error);
    }

    public void Dispose()
    {
        Stack.Dispose();
        Link.Dispose();
        Namespace.Dispose();
    }
}
