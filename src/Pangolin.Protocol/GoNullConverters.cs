using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pangolin.Protocol;

/// <summary>
/// Reads JSON <c>null</c> as 0, as Go's decoder leaves an <c>int</c> at its zero value. Used where an upstream server
/// copies nullable database columns into a payload newt declares as plain <c>int</c> (health-check configs), so that
/// our newt accepts what an upstream newt accepts.
/// </summary>
internal sealed class GoInt32Converter : JsonConverter<int>
{
    public override bool HandleNull => true;

    public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? 0 : reader.GetInt32();

    public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteNumberValue(value);
    }
}
