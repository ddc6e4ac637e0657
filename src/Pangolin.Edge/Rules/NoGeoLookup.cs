using System.Net;

namespace Pangolin.Edge.Rules;

/// <summary>No GeoIP database configured: no address has a country or an ASN, so COUNTRY and ASN rules never match (as upstream without one).</summary>
internal sealed class NoGeoLookup : IGeoLookup
{
    public static NoGeoLookup Instance { get; } = new();

    public string? Country(IPAddress address) => null;

    public long? Asn(IPAddress address) => null;
}
