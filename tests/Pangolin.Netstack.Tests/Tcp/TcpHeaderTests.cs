using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class TcpHeaderTests
{
    private static readonly byte[] Client = [10, 0, 0, 1];
    private static readonly byte[] Server = [10, 0, 0, 2];

    // A SYN laid out as Linux sends it, with its checksum computed independently (Python, RFC 1071).
    private static readonly byte[] LinuxSyn = Convert.FromHexString(
        "9c4000501234567800000000a002faf076e70000020405b40402080a000abcde0000000001030307");

    // A data segment with timestamps and one SACK block, sequence near the wrap, payload "hello".
    private static readonly byte[] DataWithSack = Convert.FromHexString(
        "00509c40fffffff012345679b01801f6b04f00000101080a000abcdf112233440101050a000010000000200068656c6c6f");

    private static ulong Pseudo(byte[] source, byte[] destination, int length) =>
        InternetChecksum.PseudoHeader(source, destination, 6, length);

    [Fact]
    public void A_Linux_SYN_parses_with_all_its_options()
    {
        Assert.True(TcpSegmentView.TryParse(LinuxSyn, out var view));
        Assert.Equal(40000, view.SourcePort);
        Assert.Equal(80, view.DestinationPort);
        Assert.Equal(new SequenceNumber(0x12345678), view.Sequence);
        Assert.Equal(new SequenceNumber(0), view.Acknowledgment);
        Assert.Equal(10, view.DataOffset);
        Assert.Equal(40, view.HeaderLength);
        Assert.Equal(TcpFlags.Syn, view.Flags);
        Assert.Equal(64240, view.Window);
        Assert.Equal(0x76e7, view.Checksum);
        Assert.Equal(0, view.Urgent);
        Assert.True(view.Payload.IsEmpty);
        Assert.Equal(1, view.SegmentLength);
        var options = view.Options;
        Assert.True(options.HasMss);
        Assert.Equal(1460, options.Mss);
        Assert.True(options.SackPermitted);
        Assert.True(options.HasTimestamps);
        Assert.Equal(0x000abcdeu, options.TimestampValue);
        Assert.Equal(0u, options.TimestampEcho);
        Assert.True(options.HasWindowScale);
        Assert.Equal(7, options.WindowScale);
        Assert.Equal(0, options.SackBlockCount);
        Assert.True(TcpHeader.IsChecksumValid(LinuxSyn, Pseudo(Client, Server, LinuxSyn.Length)));
    }

    [Fact]
    public void Writing_the_same_SYN_gives_Linux_bytes_exactly()
    {
        var options = new TcpOptions
        {
            HasMss = true,
            Mss = 1460,
            SackPermitted = true,
            HasTimestamps = true,
            TimestampValue = 0x000abcde,
            HasWindowScale = true,
            WindowScale = 7,
        };
        var buffer = new byte[60];
        var length = TcpHeader.Write(buffer, 40000, 80, new SequenceNumber(0x12345678), default, TcpFlags.Syn, 64240, options);
        Assert.Equal(40, length);
        Assert.Equal(40, TcpHeader.HeaderLength(options));
        TcpHeader.WriteChecksum(buffer.AsSpan(0, length), Pseudo(Client, Server, length));
        Assert.Equal(Convert.ToHexString(LinuxSyn), Convert.ToHexString(buffer, 0, length));
    }

    [Fact]
    public void A_data_segment_with_timestamps_and_a_SACK_block_parses_and_round_trips()
    {
        Assert.True(TcpSegmentView.TryParse(DataWithSack, out var view));
        Assert.Equal(new SequenceNumber(0xFFFFFFF0), view.Sequence);
        Assert.Equal(new SequenceNumber(0x12345679), view.Acknowledgment);
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, view.Flags);
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(view.Payload));
        Assert.Equal(5, view.SegmentLength);
        Assert.False(view.Options.HasMss);
        Assert.True(view.Options.HasTimestamps);
        Assert.Equal(0x11223344u, view.Options.TimestampEcho);
        Assert.Equal(1, view.Options.SackBlockCount);
        Assert.Equal(new SackBlock(new(0x1000), new(0x2000)), view.Options.SackBlocks[0]);
        Assert.Equal(0x1000, view.Options.SackBlocks[0].Length);
        Assert.True(TcpHeader.IsChecksumValid(DataWithSack, Pseudo(Server, Client, DataWithSack.Length)));

        var buffer = new byte[80];
        var length = TcpHeader.Write(buffer, 80, 40000, view.Sequence, view.Acknowledgment, view.Flags, view.Window, view.Options);
        view.Payload.CopyTo(buffer.AsSpan(length));
        var total = length + view.Payload.Length;
        TcpHeader.WriteChecksum(buffer.AsSpan(0, total), Pseudo(Server, Client, total));
        Assert.Equal(Convert.ToHexString(DataWithSack), Convert.ToHexString(buffer, 0, total));
    }

    [Fact]
    public void A_flipped_bit_or_the_wrong_pseudo_header_fails_the_checksum()
    {
        var copy = (byte[])DataWithSack.Clone();
        copy[^1] ^= 0x01;
        Assert.False(TcpHeader.IsChecksumValid(copy, Pseudo(Server, Client, copy.Length)));
        Assert.False(TcpHeader.IsChecksumValid(DataWithSack, Pseudo(Client, Server, DataWithSack.Length + 2)));
    }

    [Fact]
    public void A_checksum_over_an_odd_length_segment_verifies()
    {
        var buffer = new byte[21];
        var length = TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Ack, 5, default);
        Assert.Equal(20, length);
        buffer[20] = 0xAB;
        TcpHeader.WriteChecksum(buffer, Pseudo(Client, Server, 21));
        Assert.True(TcpHeader.IsChecksumValid(buffer, Pseudo(Client, Server, 21)));
        Assert.True(TcpSegmentView.TryParse(buffer, out var view));
        Assert.Equal(new byte[] { 0xAB }, view.Payload.ToArray());
    }

    [Fact]
    public void SACK_blocks_on_an_ACK_are_NOP_NOP_aligned_and_limited_to_three_with_timestamps()
    {
        var options = new TcpOptions { HasTimestamps = true, TimestampValue = 1, TimestampEcho = 2 };
        for (uint i = 0; i < 4; i++)
        {
            Assert.True(options.AddSackBlock(new SackBlock(new(i * 100), new((i * 100) + 50))));
        }
        Assert.False(options.AddSackBlock(new SackBlock(new(1000), new(1001))));
        var buffer = new byte[60];
        var length = TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Ack, 5, options);
        Assert.Equal(60, length);
        Assert.Equal(0xF0, buffer[12]);
        Assert.Equal("0101080A00000001000000020101051A", Convert.ToHexString(buffer, 20, 16));
        Assert.True(TcpSegmentView.TryParse(buffer, out var view));
        Assert.Equal(3, view.Options.SackBlockCount);
        Assert.Equal(new SackBlock(new(200), new(250)), view.Options.SackBlocks[2]);
    }

    [Fact]
    public void Four_SACK_blocks_fit_without_timestamps()
    {
        var options = default(TcpOptions);
        for (uint i = 0; i < 4; i++)
        {
            options.AddSackBlock(new SackBlock(new(i * 100), new((i * 100) + 50)));
        }
        Assert.Equal(36, TcpHeader.OptionsLength(options));
        var buffer = new byte[60];
        var length = TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Ack, 5, options);
        Assert.Equal(56, length);
        Assert.Equal("01010522", Convert.ToHexString(buffer, 20, 4));
        Assert.True(TcpSegmentView.TryParse(buffer.AsSpan(0, length), out var view));
        Assert.Equal(4, view.Options.SackBlockCount);
        Assert.Equal(new SackBlock(new(300), new(350)), view.Options.SackBlocks[3]);
    }

    [Theory]
    [InlineData(false, true, false, "01010402")]
    [InlineData(true, false, false, "0101080A0000000700000000")]
    [InlineData(false, false, true, "01030309")]
    [InlineData(true, true, true, "0402080A000000070000000001030309")]
    public void Option_combinations_are_laid_out_as_Linux_does(bool timestamps, bool sackPermitted, bool windowScale, string expected)
    {
        var options = new TcpOptions
        {
            HasTimestamps = timestamps,
            TimestampValue = 7,
            SackPermitted = sackPermitted,
            HasWindowScale = windowScale,
            WindowScale = 9,
        };
        var buffer = new byte[60];
        var length = TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Syn, 5, options);
        Assert.Equal(expected, Convert.ToHexString(buffer, 20, length - 20));
        Assert.Equal(0, (length - 20) % 4);
        Assert.True(TcpSegmentView.TryParse(buffer.AsSpan(0, length), out var view));
        Assert.Equal(timestamps, view.Options.HasTimestamps);
        Assert.Equal(sackPermitted, view.Options.SackPermitted);
        Assert.Equal(windowScale, view.Options.HasWindowScale);
    }

    [Theory]
    [InlineData("", true)] // no options
    [InlineData("01010101", true)] // NOPs only
    [InlineData("00000000", true)] // EOL and padding
    [InlineData("00FF0000", true)] // anything after EOL is ignored
    [InlineData("FE04AABB", true)] // unknown option, skipped by its length
    [InlineData("1E0201010402", true)] // unknown empty option, then SACK-permitted
    [InlineData("02", false)] // kind without a length
    [InlineData("0101FE00", false)] // length zero (RFC 9293 MUST-7)
    [InlineData("0101FE01", false)] // length one
    [InlineData("FE08AABB", false)] // length past the end of the options
    [InlineData("02030000", false)] // MSS with the wrong length
    [InlineData("030401000000000000", false)] // window scale with the wrong length
    [InlineData("04030000", false)] // SACK-permitted with the wrong length
    [InlineData("08080000000000000000", false)] // timestamps with the wrong length
    [InlineData("05020000", false)] // SACK with no block
    [InlineData("050600000000", false)] // SACK with half a block
    public void Options_are_accepted_or_refused(string optionsHex, bool valid)
    {
        var options = Convert.FromHexString(optionsHex);
        var padded = new byte[(options.Length + 3) / 4 * 4];
        options.CopyTo(padded, 0);
        var segment = new byte[20 + padded.Length];
        segment[12] = (byte)(segment.Length / 4 << 4);
        padded.CopyTo(segment, 20);
        Assert.Equal(valid, TcpSegmentView.TryParse(segment, out _));
    }

    [Fact]
    public void A_SACK_option_with_five_blocks_is_refused()
    {
        Assert.False(TcpHeader.TryParseOptions(Convert.FromHexString("052A" + new string('0', 80)), out _));
        Assert.True(TcpHeader.TryParseOptions(Convert.FromHexString("0522" + new string('0', 64)), out var options));
        Assert.Equal(4, options.SackBlockCount);
    }

    [Fact]
    public void A_window_scale_above_14_reads_as_14()
    {
        Assert.True(TcpHeader.TryParseOptions(Convert.FromHexString("010303FF"), out var options));
        Assert.True(options.HasWindowScale);
        Assert.Equal(14, options.WindowScale);
    }

    [Theory]
    [InlineData(19, 0x50)] // shorter than the fixed header
    [InlineData(20, 0x40)] // data offset 4
    [InlineData(20, 0x60)] // data offset beyond the segment
    [InlineData(0, 0)]
    public void A_bad_header_is_refused(int length, byte offsetByte)
    {
        var segment = new byte[length];
        if (length > 12)
        {
            segment[12] = offsetByte;
        }
        Assert.False(TcpSegmentView.TryParse(segment, out _));
    }

    [Fact]
    public void SYN_and_FIN_each_count_one_in_the_segment_length()
    {
        var buffer = new byte[23];
        TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Ack, 5, default, urgent: 9);
        Assert.True(TcpSegmentView.TryParse(buffer, out var view));
        Assert.Equal(5, view.SegmentLength);
        Assert.Equal(9, view.Urgent);
    }

    [Fact]
    public void Writing_into_too_small_a_buffer_throws()
    {
        var options = new TcpOptions { HasMss = true, Mss = 1 };
        Assert.Throws<ArgumentOutOfRangeException>(() => TcpHeader.Write(new byte[23], 1, 2, new(3), new(4), TcpFlags.Syn, 5, options));
    }

    [Fact]
    public void SACK_blocks_that_would_overflow_the_40_bytes_are_left_out()
    {
        var options = new TcpOptions { HasTimestamps = true, HasWindowScale = true, WindowScale = 1 };
        for (uint i = 0; i < 4; i++)
        {
            options.AddSackBlock(new SackBlock(new(i * 100), new((i * 100) + 50)));
        }
        Assert.Equal(36, TcpHeader.OptionsLength(options));
        var buffer = new byte[60];
        var length = TcpHeader.Write(buffer, 1, 2, new(3), new(4), TcpFlags.Ack, 5, options);
        Assert.Equal(56, length);
        Assert.True(TcpSegmentView.TryParse(buffer.AsSpan(0, length), out var view));
        Assert.Equal(2, view.Options.SackBlockCount);
    }
}
