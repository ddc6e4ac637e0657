using System.Text;

namespace Pangolin.WireGuard.Uapi;

/// <summary>
/// Reads '\n'-terminated lines from a stream with a fixed buffer: a line longer than the limit is skipped up to its
/// newline and reported as <see cref="UapiLineStatus.TooLong"/>, so a client cannot make us hold more than one
/// buffer per connection however much it sends.
/// </summary>
internal sealed class UapiLineReader(Stream stream, int maxLineLength)
{
    private readonly byte[] _buffer = new byte[Math.Max(maxLineLength + 1, 1024)];
    private readonly int _maxLineLength = maxLineLength;
    private int _start;
    private int _end;

    /// <summary>Bytes taken from the stream so far, newlines included (for the request size bound).</summary>
    public long BytesRead { get; private set; }

    /// <summary>
    /// The next line without its newline (and without one trailing '\r', as Go's bufio.Scanner drops it), as
    /// Latin-1 so that every byte maps to one char and nothing fails to decode. At the end of the stream, any
    /// unterminated partial line is dropped and <see cref="UapiLineStatus.EndOfStream"/> returned.
    /// </summary>
    public async ValueTask<(UapiLineStatus Status, string Line)> ReadLineAsync(CancellationToken cancellationToken)
    {
        var skipping = false;
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var length = newline - _start;
                BytesRead += length + 1;
                var start = _start;
                _start = newline + 1;
                if (skipping || length > _maxLineLength)
                {
                    return (UapiLineStatus.TooLong, "");
                }
                if (length > 0 && _buffer[start + length - 1] == (byte)'\r')
                {
                    length--;
                }
                return (UapiLineStatus.Line, Encoding.Latin1.GetString(_buffer, start, length));
            }

            if (skipping || _end - _start > _maxLineLength)
            {
                // Over the limit with no newline yet: forget what we have and skip to the next newline.
                BytesRead += _end - _start;
                skipping = true;
                _start = _end = 0;
            }
            else if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                BytesRead += _end - _start;
                _start = _end = 0;
                return (UapiLineStatus.EndOfStream, "");
            }
            _end += read;
        }
    }
}

internal enum UapiLineStatus
{
    Line,
    TooLong,
    EndOfStream,
}
