using System.Collections.Frozen;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Pangolin.Edge.Tls;

/// <summary>A certificate the edge may serve, with its private key and the issuers to send along.</summary>
/// <param name="Name">The name it is served for: a host, or <c>*.</c> + a base domain (one label, as RFC 6125 §6.4.3).</param>
/// <param name="Uploaded">Uploaded by an admin: wins over an ACME certificate for the same name.</param>
/// <param name="Certificate">The leaf, with its private key.</param>
/// <param name="Intermediates">The rest of the chain, sent in the handshake so that clients can build it.</param>
public sealed record EdgeServerCertificate(string Name, bool Uploaded, X509Certificate2 Certificate, X509Certificate2Collection Intermediates)
{
    public DateTimeOffset NotAfter => new(Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
}

/// <summary>
/// The certificates of the edge's HTTPS listener, chosen by SNI during the handshake from memory: the exact name first,
/// then the one-label wildcard, else the fallback, so that an unknown or not yet issued name never gets plain text. The
/// host replaces the whole set when its table changes; a handshake never waits for the database.
/// </summary>
public sealed class EdgeCertificateStore
{
    private readonly TimeProvider _time;
    private volatile Snapshot _snapshot = new(FrozenDictionary<string, Entry>.Empty, null);

    public EdgeCertificateStore(TimeProvider time) => _time = time ?? throw new ArgumentNullException(nameof(time));

    /// <summary>The certificate for names nobody has one for (a self-signed one the host keeps).</summary>
    public X509Certificate2? Fallback => _snapshot.Fallback?.Certificate.Certificate;

    /// <summary>
    /// Swaps in a new set. Per name an uploaded certificate wins over an ACME one, and among equals the one valid the
    /// longest. The certificates become the store's; the previous ones are left to the GC, since a handshake in flight
    /// may still use them.
    /// </summary>
    public void Replace(IEnumerable<EdgeServerCertificate> certificates, EdgeServerCertificate? fallback)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        var byName = new Dictionary<string, EdgeServerCertificate>(StringComparer.OrdinalIgnoreCase);
        foreach (var certificate in certificates)
        {
            if (!byName.TryGetValue(certificate.Name, out var current) || Better(certificate, current))
            {
                byName[certificate.Name] = certificate;
            }
        }
        var previous = _snapshot;
        var entries = byName.ToFrozenDictionary(
            p => p.Key,
            // A certificate that did not change keeps its context: building one is not free.
            p => previous.Entries.TryGetValue(p.Key, out var old) && old.Certificate.Certificate.RawData.AsSpan().SequenceEqual(p.Value.Certificate.RawData)
                ? old
                : new Entry(p.Value),
            StringComparer.OrdinalIgnoreCase);
        var fallbackEntry = fallback is null ? null
            : previous.Fallback is { } f && f.Certificate.Certificate.RawData.AsSpan().SequenceEqual(fallback.Certificate.RawData) ? f : new Entry(fallback);
        _snapshot = new Snapshot(entries, fallbackEntry);
    }

    /// <summary>How many names have a certificate.</summary>
    public int Count => _snapshot.Entries.Count;

    /// <summary>The certificate served for <paramref name="serverName"/> (the SNI; null or empty without one).</summary>
    public EdgeServerCertificate? Find(string? serverName) => FindEntry(serverName)?.Certificate;

    /// <summary>What the handshake sends for <paramref name="serverName"/>: leaf and intermediates, or null when there is nothing.</summary>
    public SslStreamCertificateContext? Select(string? serverName) => FindEntry(serverName)?.Context;

    private Entry? FindEntry(string? serverName)
    {
        var snapshot = _snapshot;
        if (!string.IsNullOrEmpty(serverName))
        {
            var name = serverName.TrimEnd('.');
            var now = _time.GetUtcNow();
            if (snapshot.Entries.TryGetValue(name, out var exact) && exact.Certificate.NotAfter > now)
            {
                return exact;
            }
            var dot = name.IndexOf('.', StringComparison.Ordinal);
            // "*.example.com" covers "a.example.com" only, not "example.com" or "a.b.example.com" (RFC 6125 §6.4.3).
            if (dot > 0 && dot < name.Length - 1
                && snapshot.Entries.TryGetValue(string.Concat("*", name.AsSpan(dot)), out var wildcard) && wildcard.Certificate.NotAfter > now)
            {
                return wildcard;
            }
        }
        return snapshot.Fallback;
    }

    private static bool Better(EdgeServerCertificate candidate, EdgeServerCertificate current) =>
        candidate.Uploaded != current.Uploaded ? candidate.Uploaded : candidate.NotAfter > current.NotAfter;

    private sealed record Snapshot(FrozenDictionary<string, Entry> Entries, Entry? Fallback);

    private sealed class Entry(EdgeServerCertificate certificate)
    {
        public EdgeServerCertificate Certificate { get; } = certificate;

        // offline: the intermediates are given; nothing is fetched (AIA) during a handshake.
        public SslStreamCertificateContext Context { get; } =
            SslStreamCertificateContext.Create(certificate.Certificate, certificate.Intermediates, offline: true);
    }
}
