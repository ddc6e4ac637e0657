using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.WireGuard.Tests.Net;

public sealed class NetNamespaceTests
{
    [Fact]
    public void Code_run_in_a_namespace_runs_there_and_the_calling_thread_stays_where_it_was()
    {
        using var ns = NetworkNamespace.Create();
        var ours = NamespaceOfThisThread();

        var theirs = NetNamespace.Run(ns.Name, NamespaceOfThisThread);

        Assert.NotEqual(ours, theirs);
        Assert.Equal(ours, NamespaceOfThisThread());
        Assert.Equal(theirs, NetNamespace.Run(Path.Combine(NetNamespace.NamedNamespaceDirectory, ns.Name), NamespaceOfThisThread));
    }

    [Fact]
    public void What_the_code_throws_comes_back_and_a_missing_namespace_names_the_failing_call()
    {
        using var ns = NetworkNamespace.Create();
        var thrown = Assert.Throws<InvalidOperationException>(() => NetNamespace.Run(ns.Name, () => throw new InvalidOperationException("inside")));
        Assert.Equal("inside", thrown.Message);

        var missing = Assert.Throws<SystemCallException>(() => NetNamespace.Run("pwgt-no-such-namespace", () => 1));
        Assert.StartsWith("open(/var/run/netns/pwgt-no-such-namespace)", missing.Message, StringComparison.Ordinal);
        Assert.Equal(2, missing.Errno); // ENOENT
    }

    [Fact]
    public void Test_namespaces_have_their_own_names_and_are_gone_after_Dispose()
    {
        var first = NetworkNamespace.Create();
        var second = NetworkNamespace.Create();
        Assert.NotEqual(first.Name, second.Name);
        Assert.Contains(first.Name, Namespaces());

        // Links made inside go with the namespace, veth pairs across namespaces included.
        first.Ip("link", "add", "pwa", "type", "veth", "peer", "name", "pwb");
        first.MoveLink("pwb", second);
        Assert.NotNull(second.TryShowLink("pwb"));
        first.Dispose();
        second.Dispose();

        var left = Namespaces();
        Assert.DoesNotContain(first.Name, left);
        Assert.DoesNotContain(second.Name, left);
    }

    private static string[] Namespaces() =>
        NetworkNamespace.Run("ip", "netns", "list").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ')[0]).ToArray();

    private static string NamespaceOfThisThread() => new FileInfo("/proc/thread-self/ns/net").LinkTarget!;
}
