using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class SackScoreboardTests
{
    private const int Smss = 100;

    private static SackBlock Block(uint left, uint right) => new(new(left), new(right));

    private static SequenceNumber S(uint value) => new(value);

    [Fact]
    public void Overlapping_and_adjacent_blocks_merge_in_order()
    {
        var board = new SackScoreboard(Smss);
        Assert.True(board.Add(Block(500, 600), S(0), S(1000)));
        Assert.True(board.Add(Block(200, 300), S(0), S(1000)));
        Assert.True(board.Add(Block(300, 350), S(0), S(1000)));
        Assert.True(board.Add(Block(550, 700), S(0), S(1000)));
        Assert.False(board.Add(Block(500, 700), S(0), S(1000)));
        Assert.Equal([Block(200, 350), Block(500, 700)], board.Blocks.ToArray());
        Assert.True(board.Add(Block(340, 510), S(0), S(1000)));
        Assert.Equal([Block(200, 700)], board.Blocks.ToArray());
        Assert.Equal(500, board.SackedBytes);
    }

    [Fact]
    public void Blocks_outside_the_unacknowledged_window_are_ignored_or_trimmed()
    {
        var board = new SackScoreboard(Smss);
        Assert.False(board.Add(Block(0, 100), S(100), S(1000))); // a D-SACK below SND.UNA
        Assert.False(board.Add(Block(900, 1100), S(100), S(1000))); // beyond SND.NXT
        Assert.False(board.Add(Block(600, 500), S(100), S(1000))); // inverted
        Assert.True(board.Add(Block(50, 150), S(100), S(1000)));
        Assert.Equal([Block(100, 150)], board.Blocks.ToArray());
    }

    [Fact]
    public void IsSacked_needs_the_whole_range()
    {
        var board = new SackScoreboard(Smss);
        board.Add(Block(200, 300), S(0), S(1000));
        Assert.True(board.IsSacked(S(200), 100));
        Assert.True(board.IsSacked(S(250), 10));
        Assert.False(board.IsSacked(S(150), 100));
        Assert.False(board.IsSacked(S(250), 100));
        Assert.False(board.IsSacked(S(0), 10));
    }

    [Fact]
    public void A_cumulative_ACK_drops_and_trims_ranges()
    {
        var board = new SackScoreboard(Smss);
        board.Add(Block(200, 300), S(0), S(1000));
        board.Add(Block(400, 500), S(0), S(1000));
        board.OnCumulativeAck(S(300));
        Assert.Equal([Block(400, 500)], board.Blocks.ToArray());
        board.OnCumulativeAck(S(450));
        Assert.Equal([Block(450, 500)], board.Blocks.ToArray());
        board.OnCumulativeAck(S(600));
        Assert.Equal(0, board.Count);
    }

    [Fact]
    public void IsLost_after_three_discontiguous_ranges_or_more_than_two_SMSS_above()
    {
        var board = new SackScoreboard(Smss);
        board.Add(Block(100, 150), S(0), S(1000));
        board.Add(Block(200, 250), S(0), S(1000));
        Assert.False(board.IsLost(S(0))); // two ranges, 100 bytes
        board.Add(Block(300, 350), S(0), S(1000));
        Assert.True(board.IsLost(S(0))); // three ranges
        Assert.False(board.IsLost(S(150))); // two above

        var bytes = new SackScoreboard(Smss);
        bytes.Add(Block(100, 300), S(0), S(1000));
        Assert.False(bytes.IsLost(S(0))); // exactly 2 * SMSS is not more than
        bytes.Add(Block(300, 301), S(0), S(1000));
        Assert.True(bytes.IsLost(S(0)));
        Assert.False(bytes.IsLost(S(100))); // bytes 101..300 above: 200
    }

    [Fact]
    public void Pipe_counts_unsacked_bytes_not_lost_and_retransmitted_ones_again()
    {
        var board = new SackScoreboard(Smss);
        // Holes: [0,100) lost (3 ranges above), [150,200) and [250,300) not lost, [350,1000) not lost.
        board.Add(Block(100, 150), S(0), S(1000));
        board.Add(Block(200, 250), S(0), S(1000));
        board.Add(Block(300, 350), S(0), S(1000));
        Assert.Equal(50 + 50 + 650, board.Pipe(S(0), S(1000), S(0)));
        // After retransmitting [0, 100): those count once (retransmitted, lost).
        Assert.Equal(100 + 50 + 50 + 650, board.Pipe(S(0), S(1000), S(100)));
        // And [150, 170) retransmitted too: counted twice (not lost, retransmitted).
        Assert.Equal(100 + 70 + 50 + 650, board.Pipe(S(0), S(1000), S(170)));
    }

    [Fact]
    public void Without_SACK_information_pipe_is_the_flight()
    {
        var board = new SackScoreboard(Smss);
        Assert.Equal(1000, board.Pipe(S(0), S(1000), S(0)));
    }

    [Fact]
    public void NextSeg_gives_the_first_lost_hole_above_HighRxt_one_SMSS_at_a_time()
    {
        var board = new SackScoreboard(Smss);
        board.Add(Block(250, 300), S(0), S(1000));
        board.Add(Block(400, 450), S(0), S(1000));
        board.Add(Block(500, 550), S(0), S(1000));
        Assert.True(board.TryNextSegment(S(0), S(0), lostOnly: true, out var start, out var length));
        Assert.Equal((S(0), 100), (start, length));
        Assert.True(board.TryNextSegment(S(0), S(200), lostOnly: true, out start, out length));
        Assert.Equal((S(200), 50), (start, length)); // stops at the SACKed range
        Assert.False(board.TryNextSegment(S(0), S(250), lostOnly: true, out _, out _)); // [300,400) has 2 ranges, 100 bytes above
        Assert.True(board.TryNextSegment(S(0), S(250), lostOnly: false, out start, out length));
        Assert.Equal((S(300), 100), (start, length));
        Assert.False(board.TryNextSegment(S(0), S(550), lostOnly: false, out _, out _)); // nothing below the highest SACK
    }

    [Fact]
    public void The_number_of_ranges_is_capped_by_forgetting_the_highest()
    {
        var board = new SackScoreboard(Smss, capacity: 3);
        board.Add(Block(100, 110), S(0), S(1000));
        board.Add(Block(300, 310), S(0), S(1000));
        board.Add(Block(500, 510), S(0), S(1000));
        Assert.False(board.Add(Block(700, 710), S(0), S(1000)));
        Assert.True(board.Add(Block(200, 210), S(0), S(1000)));
        Assert.Equal([Block(100, 110), Block(200, 210), Block(300, 310)], board.Blocks.ToArray());
        Assert.True(board.Add(Block(110, 200), S(0), S(1000)));
        Assert.Equal([Block(100, 210), Block(300, 310)], board.Blocks.ToArray());
    }

    [Fact]
    public void Everything_works_across_the_sequence_wrap()
    {
        var board = new SackScoreboard(Smss);
        var una = S(0xFFFFFF00);
        var nxt = S(0x300);
        Assert.True(board.Add(Block(0xFFFFFFF0, 0x10), una, nxt));
        Assert.True(board.Add(Block(0x100, 0x110), una, nxt));
        Assert.True(board.Add(Block(0x200, 0x210), una, nxt));
        Assert.True(board.IsSacked(S(0xFFFFFFF8), 16));
        Assert.True(board.IsLost(una));
        Assert.Equal(3 * 0xF0, board.Pipe(una, nxt, una)); // the first hole is lost, the three others are not
        Assert.True(board.TryNextSegment(una, una, lostOnly: true, out var start, out var length));
        Assert.Equal((una, 100), (start, length));
        board.OnCumulativeAck(S(0x8));
        Assert.Equal(Block(0x8, 0x10), board.Blocks[0]);
    }
}
