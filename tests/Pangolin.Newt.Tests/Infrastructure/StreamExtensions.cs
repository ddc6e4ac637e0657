using System.Text;

namespace Pangolin.Newt.Tests.Infrastructure;

internal static class StreamExtensions
{
    /// <summary>Reads until the end of stream (bounded).</summary>
    public static async Task<byte[]> ReadToEndAsync(this Stream stream)
    {
        using var all = new MemoryStream();
        await stream.CopyToAsync(all, TestContext.Current.CancellationToken).WaitAsync(Bounds.Step, TestContext.Current.CancellationToken);
        return all.ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (bounded).</summary>
    public static async Task<byte[]> ReadExactlyAsync(this Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Bounds.Step, TestContext.Current.CancellationToken);
        return buffer;
    }

    public static async Task WriteAsync(this Stream stream, string text) =>
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text), TestContext.Current.CancellationToken).AsTask().WaitAsync(Bounds.Step, TestContext.Current.CancellationToken);

    public static async Task<string> ReadTextAsync(this Stream stream, int length) =>
        Encoding.ASCII.GetString(await stream.ReadExactlyAsync(length));
}
