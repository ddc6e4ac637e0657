namespace Pangolin.Server.Sites;

/// <summary>
/// Picks the port a target is published on inside its site's tunnel (upstream's internalPort): random in
/// [<see cref="First"/>, <see cref="Last"/>], so that the ports of a site do not reveal how many targets it has or
/// in which order they were made, and not one the site already uses.
/// </summary>
public static class InternalPortAllocator
{
    public const int First = 40000;
    public const int Last = 65535;

    /// <summary>A free port, or null when the site uses every port of the range.</summary>
    public static int? Next(IReadOnlySet<int> used, Random random)
    {
        ArgumentNullException.ThrowIfNull(used);
        ArgumentNullException.ThrowIfNull(random);
        const int Count = Last - First + 1;
        // Random probes find a free port at once while the range is sparse; a walk from a random start finishes
        // the job when it is nearly full.
        for (var attempt = 0; attempt < 32; attempt++)
        {
            var port = random.Next(First, Last + 1);
            if (!used.Contains(port))
            {
                return port;
            }
        }
        var start = random.Next(Count);
        for (var i = 0; i < Count; i++)
        {
            var port = First + ((start + i) % Count);
            if (!used.Contains(port))
            {
                return port;
            }
        }
        return null;
    }
}
