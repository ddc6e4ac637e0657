using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Pangolin.Protocol.Messages;

/// <summary>
/// The envelope of every WebSocket message, both ways: <c>{"type", "data", "configVersion"?}</c>
/// (U:newt websocket/types.go <c>WSMessage</c>).
/// </summary>
/// <remarks>
/// <see cref="Data"/> stays a raw <see cref="JsonElement"/> because its shape depends on <see cref="Type"/>; handlers
/// decode it with <see cref="GetData{T}"/> once they know which record to expect. A missing <c>data</c> reads as JSON
/// <c>null</c> so that writing a received message back never throws.
/// </remarks>
public sealed class WsMessage
{
    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement.Clone();

    private readonly JsonElement _data;

    public string Type { get; init => field = value ?? ""; } = "";

    public JsonElement Data
    {
        get => _data.ValueKind == JsonValueKind.Undefined ? NullElement : _data;
        init => _data = value;
    }

    /// <summary>
    /// The sender's configuration version. Omitted from the JSON when null; Go's <c>omitempty</c> omits 0, so a newt
    /// holding version 0 sends no key at all (use <see cref="NewtConfigVersion"/> to get the same on our side).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? ConfigVersion { get; init; }

    /// <summary>Builds a message whose data is <paramref name="data"/> written with <paramref name="typeInfo"/>.</summary>
    public static WsMessage Create<T>(string type, T data, JsonTypeInfo<T> typeInfo, long? configVersion = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentNullException.ThrowIfNull(typeInfo);
        return new WsMessage { Type = type, Data = JsonSerializer.SerializeToElement(data, typeInfo), ConfigVersion = configVersion };
    }

    /// <summary>Builds a message with data <c>{}</c>, as newt's ping and the server's reconnect/terminate are sent.</summary>
    public static WsMessage CreateEmpty(string type, long? configVersion = null) =>
        Create(type, new EmptyData(), ProtocolJsonContext.Default.EmptyData, configVersion);

    /// <summary>
    /// Decodes <see cref="Data"/> as <typeparamref name="T"/>; null when the data is JSON <c>null</c> or missing.
    /// Unknown fields are skipped and missing fields keep their defaults, as Go's decoder does.
    /// </summary>
    /// <exception cref="JsonException">The data does not have the shape of <typeparamref name="T"/>.</exception>
    public T? GetData<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return Data.ValueKind == JsonValueKind.Null ? default : Data.Deserialize(typeInfo);
    }

    /// <summary>The configVersion a Go newt would put on the wire for <paramref name="version"/>: none for 0.</summary>
    public static long? NewtConfigVersion(long version) => version == 0 ? null : version;
}
