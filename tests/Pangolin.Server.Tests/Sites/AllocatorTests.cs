using Pangolin.Server.Sites;

namespace Pangolin.Server.Tests.Sites;

public sealed class AllocatorTests
{
    [Fact]
    public void Exit_nodes_get_successive_24s_of_the_group_until_it_is_exhausted()
    {
        var used = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            var next = SubnetAllocator.Next("100.89.137.0/20", 24, used);
            Assert.Equal($"100.89.{137 + i}.0/24", next);
            used.Add(next!);
        }
        Assert.Null(SubnetAllocator.Next("100.89.137.0/20", 24, used));
    }

    [Fact]
    public void Sites_get_30s_of_the_node_network_after_the_nodes_own_block_then_none()
    {
        // The node's address (x.y.z.1/24) lies in the first /30, which is therefore never a site's.
        var used = new List<string> { "100.89.137.1/30" };
        var given = new List<string>();
        while (SubnetAllocator.Next("100.89.137.0/24", 30, used) is { } next)
        {
            given.Add(next);
            used.Add(next);
        }
        Assert.Equal(63, given.Count);
        Assert.Equal("100.89.137.4/30", given[0]);
        Assert.Equal("100.89.137.8/30", given[1]);
        Assert.Equal("100.89.137.252/30", given[^1]);
    }

    [Fact]
    public void A_freed_block_is_given_again_before_higher_ones()
    {
        var used = new List<string> { "100.89.137.0/30", "100.89.137.4/30", "100.89.137.12/30" };
        Assert.Equal("100.89.137.8/30", SubnetAllocator.Next("100.89.137.0/24", 30, used));
    }

    [Fact]
    public void A_block_larger_than_the_pool_or_an_IPv6_pool_gives_nothing()
    {
        Assert.Null(SubnetAllocator.Next("100.89.137.0/24", 16, []));
        Assert.Null(SubnetAllocator.Next("fd00::/64", 120, []));
    }

    [Fact]
    public void Internal_ports_are_random_in_range_and_never_one_the_site_uses()
    {
        var random = new Random(5);
        var used = new HashSet<int>();
        for (var i = 0; i < 2000; i++)
        {
            var port = InternalPortAllocator.Next(used, random);
            Assert.NotNull(port);
            Assert.InRange(port.Value, InternalPortAllocator.First, InternalPortAllocator.Last);
            Assert.True(used.Add(port.Value), $"port {port} given twice");
        }
        // Not handed out in order.
        Assert.NotEqual(used.Order().Take(10), used.Take(10));
    }

    [Fact]
    public void The_last_free_internal_port_is_found_and_a_full_site_gets_none()
    {
        var used = Enumerable.Range(InternalPortAllocator.First, InternalPortAllocator.Last - InternalPortAllocator.First + 1).ToHashSet();
        used.Remove(51820);
        Assert.Equal(51820, InternalPortAllocator.Next(used, new Random(1)));
        used.Add(51820);
        Assert.Null(InternalPortAllocator.Next(used, new Random(1)));
    }
}
