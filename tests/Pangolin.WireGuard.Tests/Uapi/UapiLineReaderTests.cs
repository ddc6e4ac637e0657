using System.Text;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Uapi;

public sealed class UapiLineReaderTests
{
    /// <summary>Hands out at most <paramref name="chunk"/> bytes per read, as a socket may.</summary>
    private sealed class ChunkedStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }

    private static async Task<List<(UapiLineStatus, string)>> ReadAllAsync(string text, int maxLine, int chunk)
    {
        var reader = new UapiLineReader(new ChunkedStream(Encoding.Latin1.GetBytes(text), chunk), maxLine);
        var lines = new List<(UapiLineStatus, string)>();
        while (true)
        {
            var (status, line) = await reader.ReadLineAsync(CancellationToken.None);
            lines.Add((status, line));
            if (status == UapiLineStatus.EndOfStream)
            {
                Assert.Equal(text.Length, reader.BytesRead);
                return lines;
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task Lines_up_to_the_limit_are_returned_and_longer_ones_skipped_to_their_newline(int chunk)
    {
        const int max = 1500;
        var atLimit = new string('a', max);
        var overLimit = new string('b', max + 1);
        var huge = new string('c', 10 * max);
        var lines = await ReadAllAsync($"get=1\n{atLimit}\n{overLimit}\nx=1\r\n{huge}\n\nlast=1\npartial", max, chunk);
        Assert.Equal(
            [
                (UapiLineStatus.Line, "get=1"),
                (UapiLineStatus.Line, atLimit),
                (UapiLineStatus.TooLong, ""),
                (UapiLineStatus.Line, "x=1"),
                (UapiLineStatus.TooLong, ""),
                (UapiLineStatus.Line, ""),
                (UapiLineStatus.Line, "last=1"),
                (UapiLineStatus.EndOfStream, ""),
            ],
            lines);
    }

    [Fact]
    public async Task Bytes_are_read_as_latin1_so_nothing_fails_to_decode()
    {
        var lines = await ReadAllAsync("k=\u00ff\u0080\n", 128, 3);
        Assert.Equal((UapiLineStatus.Line, "k=\u00ff\u0080"), lines[0]);
    }
}
