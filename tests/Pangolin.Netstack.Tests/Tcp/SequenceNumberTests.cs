using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class SequenceNumberTests
{
    [Theory]
    [InlineData(1u, 2u)]
    [InlineData(0xFFFFFFFFu, 0u)]
    [InlineData(0xFFFFFF00u, 0x100u)]
    [InlineData(0x7FFFFFFFu, 0x80000000u)]
    [InlineData(0u, 0x7FFFFFFFu)]
    public void A_number_is_before_one_less_than_half_the_space_ahead_even_across_the_wrap(uint a, uint b)
    {
        var x = new SequenceNumber(a);
        var y = new SequenceNumber(b);
        Assert.True(x < y);
        Assert.True(x <= y);
        Assert.False(x > y);
        Assert.False(x >= y);
        Assert.True(y > x);
        Assert.True(y >= x);
        Assert.True(x.CompareTo(y) < 0);
        Assert.Equal(y, SequenceNumber.Max(x, y));
        Assert.Equal(x, SequenceNumber.Min(x, y));
        Assert.Equal(y, SequenceNumber.Max(y, x));
        Assert.Equal(x, SequenceNumber.Min(y, x));
    }

    [Fact]
    public void Equal_numbers_are_neither_before_nor_after()
    {
        var x = new SequenceNumber(0xFFFFFFFF);
        var y = new SequenceNumber(0xFFFFFFFF);
        Assert.False(x < y);
        Assert.False(x > y);
        Assert.True(x <= y);
        Assert.True(x >= y);
        Assert.Equal(0, x - x);
    }

    [Fact]
    public void Adding_wraps_modulo_two_to_the_32()
    {
        Assert.Equal(new SequenceNumber(4), new SequenceNumber(0xFFFFFFFE) + 6);
        Assert.Equal(new SequenceNumber(0xFFFFFFFE), new SequenceNumber(4) + (-6));
        Assert.Equal(new SequenceNumber(0xFFFFFFFE), new SequenceNumber(4) - 6);
        Assert.Equal(new SequenceNumber(1), new SequenceNumber(0xFFFFFFFF) + 2u);
    }

    [Fact]
    public void The_difference_is_signed_and_wraps()
    {
        Assert.Equal(6, new SequenceNumber(4) - new SequenceNumber(0xFFFFFFFE));
        Assert.Equal(-6, new SequenceNumber(0xFFFFFFFE) - new SequenceNumber(4));
        Assert.Equal(int.MinValue, new SequenceNumber(0x80000000) - new SequenceNumber(0));
        Assert.Equal(10u, new SequenceNumber(4).DistanceFrom(new SequenceNumber(0xFFFFFFFA)));
    }

    [Theory]
    [InlineData(100u, 100u, 10u, true)]
    [InlineData(109u, 100u, 10u, true)]
    [InlineData(110u, 100u, 10u, false)]
    [InlineData(99u, 100u, 10u, false)]
    [InlineData(100u, 100u, 0u, false)]
    [InlineData(2u, 0xFFFFFFFEu, 10u, true)]
    [InlineData(0xFFFFFFFEu, 0xFFFFFFFEu, 10u, true)]
    [InlineData(8u, 0xFFFFFFFEu, 10u, false)]
    [InlineData(0xFFFFFFFDu, 0xFFFFFFFEu, 10u, false)]
    [InlineData(0x80000000u, 0u, 0xFFFFFFFFu, true)]
    public void InWindow_is_the_half_open_range_from_the_start(uint value, uint start, uint size, bool expected) =>
        Assert.Equal(expected, new SequenceNumber(value).InWindow(new SequenceNumber(start), size));

    [Fact]
    public void Sorting_uses_modular_order()
    {
        var list = new List<SequenceNumber> { new(5), new(0xFFFFFFF0), new(0) };
        list.Sort();
        Assert.Equal([new(0xFFFFFFF0), new(0), new(5)], list);
    }
}
