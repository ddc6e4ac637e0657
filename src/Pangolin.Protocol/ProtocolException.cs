namespace Pangolin.Protocol;

/// <summary>A frame or message that cannot be decoded: bad JSON, no type, bad gzip, or too large.</summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException()
    {
    }

    public ProtocolException(string message) : base(message)
    {
    }

    public ProtocolException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
