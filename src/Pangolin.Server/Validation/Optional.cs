using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pangolin.Server;

/// <summary>Lets validation attributes see through <see cref="Optional{T}"/>.</summary>
public interface IOptionalValue
{
    bool IsSet { get; }

    object? BoxedValue { get; }
}

/// <summary>
/// A request field that may be absent, present with a value, or present as null. Updates need the three states:
/// <c>"subdomain": null</c> clears a subdomain, while leaving the field out keeps it.
/// </summary>
[JsonConverter(typeof(OptionalConverterFactory))]
public readonly struct Optional<T> : IOptionalValue, IEquatable<Optional<T>>
{
    public Optional(T value)
    {
        Value = value;
        IsSet = true;
    }

    public bool IsSet { get; }

    public T Value { get; }

    public object? BoxedValue => IsSet ? Value : null;

    /// <summary>The new value when set, else the current one.</summary>
    public T Or(T current) => IsSet ? Value : current;

    public static implicit operator Optional<T>(T value) => new(value);

    public bool Equals(Optional<T> other) => IsSet == other.IsSet && EqualityComparer<T>.Default.Equals(Value, other.Value);

    public override bool Equals(object? obj) => obj is Optional<T> other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(IsSet, Value);

    public static bool operator ==(Optional<T> left, Optional<T> right) => left.Equals(right);

    public static bool operator !=(Optional<T> left, Optional<T> right) => !left.Equals(right);

    public override string ToString() => IsSet ? Value?.ToString() ?? "null" : "(unset)";
}

internal sealed class OptionalConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) =>
        typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(Optional<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(OptionalConverter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class OptionalConverter<T> : JsonConverter<Optional<T>>
    {
        // Called for a present null too, which is what distinguishes null from absent.
        public override bool HandleNull => true;

        public override Optional<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null && default(T) is not null)
            {
                throw new JsonException("The JSON value null is not allowed for this field");
            }
            try
            {
                return new(JsonSerializer.Deserialize<T>(ref reader, options)!);
            }
            catch (JsonException e)
            {
                // The nested call's path starts again at "$"; without a path of its own, the outer serializer adds the
                // field's path, and the inner exception keeps the rest (Problems.DescribeJsonError joins them).
                throw new JsonException(e.Message, e);
            }
        }

        public override void Write(Utf8JsonWriter writer, Optional<T> value, JsonSerializerOptions options) =>
            JsonSerializer.Serialize(writer, value.IsSet ? value.Value : default, options);
    }
}
