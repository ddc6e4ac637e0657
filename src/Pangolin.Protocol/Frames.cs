using System.IO.Compression;
using System.Text.Json;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol;

/// <summary>
/// WebSocket frame payloads: a text frame holds the JSON of a <see cref="WsMessage"/>; a binary frame holds the same
/// JSON gzipped (U:ws.ts gunzips binary frames unconditionally; upstream servers may send gzip to new newts).
/// </summary>
public static class Frames
{
    /// <summary>
    /// Default limit on a message's JSON size, after decompression. A full <c>newt/sync</c> for hundreds of targets
    /// stays far below it, while a gzip bomb (a few KiB that inflate to gigabytes) is refused before it fills memory.
    /// </summary>
    public const int DefaultMaxMessageBytes = 1024 * 1024;

    /// <summary>The payload of a text frame carrying <paramref name="message"/>.</summary>
    public static byte[] EncodeText(WsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return JsonSerializer.SerializeToUtf8Bytes(message, ProtocolJsonContext.Default.WsMessage);
    }

    /// <summary>
    /// The payload of a binary (gzip) frame carrying <paramref name="message"/>. Our server never sends these to a
    /// newt (an old newt cannot read them); this exists for tests and for talking to upstream peers that accept them.
    /// </summary>
    public static byte[] EncodeGzip(WsMessage message)
    {
        var json = EncodeText(message);
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(json);
        }

        return output.ToArray();
    }

    /// <summary>
    /// Decodes one complete frame payload: UTF-8 JSON when <paramref name="isBinary"/> is false, gzip of it when true.
    /// </summary>
    /// <exception cref="ProtocolException">
    /// The payload is not valid gzip or JSON, has no <c>type</c>, or its JSON exceeds <paramref name="maxMessageBytes"/>.
    /// </exception>
    public static WsMessage Decode(ReadOnlySpan<byte> payload, bool isBinary, int maxMessageBytes = DefaultMaxMessageBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageBytes);
        if (isBinary)
        {
            var json = Gunzip(payload, maxMessageBytes);
            return DecodeJson(json);
        }

        if (payload.Length > maxMessageBytes)
        {
            throw new ProtocolException($"Message of {payload.Length} bytes exceeds the limit of {maxMessageBytes} bytes.");
        }

        return DecodeJson(payload);
    }

    /// <summary>Inflates gzip data, refusing output larger than <paramref name="maxBytes"/>.</summary>
    /// <exception cref="ProtocolException">The data is not gzip, is truncated, or inflates past the limit.</exception>
    public static byte[] Gunzip(ReadOnlySpan<byte> compressed, int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        try
        {
            using var input = new MemoryStream(compressed.ToArray(), writable: false);
            using var gzip = new GZipStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            // Read in chunks and count, instead of CopyTo: the limit must stop inflation, not judge it afterwards.
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = gzip.Read(buffer)) > 0)
            {
                if (output.Length + read > maxBytes)
                {
                    throw new ProtocolException($"Compressed message inflates past the limit of {maxBytes} bytes.");
                }

                output.Write(buffer, 0, read);
            }

            return output.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new ProtocolException("Binary frame is not valid gzip.", ex);
        }
    }

    private static WsMessage DecodeJson(ReadOnlySpan<byte> json)
    {
        WsMessage? message;
        try
        {
            message = JsonSerializer.Deserialize(json, ProtocolJsonContext.Default.WsMessage);
        }
        catch (JsonException ex)
        {
            throw new ProtocolException($"Message is not valid JSON: {ex.Message}", ex);
        }

        if (message is null || string.IsNullOrEmpty(message.Type))
        {
            throw new ProtocolException("Message has no type.");
        }

        return message;
    }
}
