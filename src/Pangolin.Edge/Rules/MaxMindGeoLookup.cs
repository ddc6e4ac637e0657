using System.Net;
using MaxMind.Db;

namespace Pangolin.Edge.Rules;

/// <summary>
/// Country and ASN lookups from MaxMind databases the admin provides: a country database in the GeoLite2-Country /
/// GeoIP2-Country layout (<c>country.iso_code</c>, what upstream's <c>getCountryCodeForIp</c> reads; the registered
/// country is not consulted) and an ASN database in the GeoLite2-ASN layout (<c>autonomous_system_number</c>). Files
/// are memory-mapped; lookups are thread-safe.
/// </summary>
public sealed class MaxMindGeoLookup : IGeoLookup, IDisposable
{
    private readonly Reader? _country;
    private readonly Reader? _asn;

    /// <param name="countryDatabasePath">A GeoLite2-Country or GeoIP2-Country .mmdb file, or null for no country lookups.</param>
    /// <param name="asnDatabasePath">A GeoLite2-ASN .mmdb file, or null for no ASN lookups.</param>
    /// <exception cref="FileNotFoundException">A given file does not exist; the message names it.</exception>
    /// <exception cref="InvalidDataException">A given file is not a MaxMind database; the message names it.</exception>
    public MaxMindGeoLookup(string? countryDatabasePath, string? asnDatabasePath = null)
    {
        if (countryDatabasePath is null && asnDatabasePath is null)
        {
            throw new ArgumentException("Give a country database, an ASN database, or both.", nameof(countryDatabasePath));
        }

        _country = countryDatabasePath is null ? null : Open(countryDatabasePath, "country");
        try
        {
            _asn = asnDatabasePath is null ? null : Open(asnDatabasePath, "ASN");
        }
        catch
        {
            _country?.Dispose();
            throw;
        }
    }

    public string? Country(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var record = _country?.Find<CountryRecord>(Normalize(address));
        var code = record?.Country?.IsoCode;
        return string.IsNullOrEmpty(code) ? null : code.ToUpperInvariant();
    }

    public long? Asn(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var number = _asn?.Find<AsnRecord>(Normalize(address))?.Number;
        return number is null or 0 ? null : number;
    }

    public void Dispose()
    {
        _country?.Dispose();
        _asn?.Dispose();
    }

    private static Reader Open(string path, string kind)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"The MaxMind {kind} database '{full}' does not exist.", full);
        }

        try
        {
            return new Reader(full, FileAccessMode.MemoryMapped);
        }
        catch (InvalidDatabaseException e)
        {
            throw new InvalidDataException($"The MaxMind {kind} database '{full}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// A dual-mode socket reports an IPv4 client as <c>::ffff:a.b.c.d</c>; MaxMind's IPv6 trees keep IPv4 data under
    /// <c>::a.b.c.d</c>, which the reader finds for a 4-byte address only.
    /// </summary>
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    internal sealed class CountryRecord
    {
        [Constructor]
        public CountryRecord([MapKey("country")] CountryData? country) => Country = country;

        public CountryData? Country { get; }
    }

    internal sealed class CountryData
    {
        [Constructor]
        public CountryData([MapKey("iso_code")] string? isoCode) => IsoCode = isoCode;

        public string? IsoCode { get; }
    }

    internal sealed class AsnRecord
    {
        [Constructor]
        public AsnRecord([MapKey("autonomous_system_number")] long? number) => Number = number;

        public long? Number { get; }
    }
}
