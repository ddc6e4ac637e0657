namespace Pangolin.Newt;

/// <summary>
/// Where the runtime runs what follows a socket read or write: newt asks for the socket event threads themselves
/// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>) instead of a hop to the thread pool per completion. A relay's
/// work after a read is short (a copy into the tunnel's stack) and never waits on another .NET socket, and on two
/// cores the hop cost 10–14 % of newt's CPU per proxied 1 KB request (docs/benchmarks.md). The runtime reads the
/// variable once, when the first socket is used, so this must run first; a value the user set is kept.
/// </summary>
internal static class SocketCompletions
{
    internal const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static void PreferInline()
    {
        if (Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
        }
    }
}
