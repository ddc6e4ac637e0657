using System.Globalization;
using System.Net;

namespace Pangolin.Edge.Rules;

/// <summary>
/// A resource's rules, parsed once and evaluated per request or connection, as upstream's <c>checkRules</c>
/// (<c>server/routers/badger/verifySession.ts</c>): rules in ascending priority, the first match decides.
/// </summary>
/// <remarks>
/// <para>Match types (the value is the rule's <see cref="EdgeRule.Value"/>):</para>
/// <list type="bullet">
/// <item><c>IP</c>: one address, equal to the client's. Upstream compares strings; here both are parsed, so
/// <c>::1</c> equals <c>0::1</c>, and an IPv4-mapped client (<c>::ffff:1.2.3.4</c>) equals <c>1.2.3.4</c>.</item>
/// <item><c>CIDR</c>: <c>address/prefix</c>, IPv4 or IPv6; host bits are ignored (<c>10.1.2.3/8</c> is 10.0.0.0/8, as
/// upstream masks them). An IPv4 client never matches an IPv6 range and the other way round, except that an
/// IPv4-mapped range (<c>::ffff:10.0.0.0/104</c>) is the IPv4 range. A value without <c>/prefix</c> is invalid (upstream
/// throws on it).</item>
/// <item><c>PATH</c>: see <see cref="PathPattern"/>. Never matches without a path (raw TCP/UDP) or with an empty
/// one.</item>
/// <item><c>COUNTRY</c>: an ISO 3166-1 code, compared case-insensitively with <see cref="IGeoLookup.Country"/>.
/// <c>ALL</c> matches every client, even one the database does not know, except private, loopback, link-local and
/// CGNAT addresses (upstream's <c>isLocalOrCarrierGradeNatIp</c>: 10/8, 172.16/12, 192.168/16, 100.64/10, 127/8,
/// 169.254/16, ::1, fc00::/7, fe80::/10), which it skips.</item>
/// <item><c>ASN</c>: <c>AS13335</c> or <c>13335</c> (the prefix case-insensitive), equal to
/// <see cref="IGeoLookup.Asn"/>. <c>ALL</c> and <c>AS0</c> behave as COUNTRY's <c>ALL</c>.</item>
/// </list>
/// <para>A rule with a <see cref="EdgeRule.Method"/> matches only requests with that method (case-insensitive), so never
/// a raw TCP/UDP connection, which has none. Upstream's rules have no method; this is an addition.</para>
/// <para>Invalid rules (unknown action or match type, a value that does not parse) are skipped, so one bad row cannot
/// take a resource down. Upstream compares <c>ALL</c>/<c>AS0</c> case-sensitively in one place and not in another;
/// here they are case-insensitive throughout. Upstream's <c>REGION</c> match is not supported (skipped).</para>
/// <para><see cref="Evaluate"/> allocates nothing for IP and CIDR rules; geo rules cost one lookup each per
/// evaluation, made only when such a rule is reached.</para>
/// </remarks>
public sealed class RuleSet
{
    private static readonly (IpKey Network, UInt128 Mask)[] LocalAndCgnat =
    [
        Range("10.0.0.0", 8),
        Range("172.16.0.0", 12),
        Range("192.168.0.0", 16),
        Range("100.64.0.0", 10),
        Range("127.0.0.0", 8),
        Range("169.254.0.0", 16),
        Range("::1", 128),
        Range("fc00::", 7),
        Range("fe80::", 10),
    ];

    private readonly CompiledRule[] _rules;

    private RuleSet(CompiledRule[] rules) => _rules = rules;

    /// <summary>No rules: every evaluation is <see cref="RuleOutcome.None"/>.</summary>
    public static RuleSet Empty { get; } = new([]);

    /// <summary>The rules that were valid, in evaluation order.</summary>
    public int Count => _rules.Length;

    /// <summary>Parses and orders the rules (ascending priority, then rule id); invalid ones are left out.</summary>
    public static RuleSet Compile(IReadOnlyList<EdgeRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var compiled = new List<(int Priority, int RuleId, CompiledRule Rule)>(rules.Count);
        foreach (var rule in rules)
        {
            if (rule is not null && TryCompile(rule, out var result))
            {
                compiled.Add((rule.Priority, rule.RuleId, result));
            }
        }

        if (compiled.Count == 0)
        {
            return Empty;
        }

        compiled.Sort(static (a, b) => a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.RuleId.CompareTo(b.RuleId));
        return new RuleSet([.. compiled.Select(static c => c.Rule)]);
    }

    /// <summary>The first matching rule's outcome, or <see cref="RuleOutcome.None"/>.</summary>
    /// <param name="client">The client's address.</param>
    /// <param name="path">The request's decoded path without query, or null for raw TCP/UDP.</param>
    /// <param name="method">The request's method, or null for raw TCP/UDP.</param>
    /// <param name="geo">Country and ASN lookups, or null when none is configured (then only ALL matches).</param>
    public RuleOutcome Evaluate(IPAddress client, string? path, string? method, IGeoLookup? geo)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_rules.Length == 0 || !IpKey.TryFrom(client, out var address))
        {
            return RuleOutcome.None;
        }

        // Looked up at most once, and only when a geo rule is reached.
        var local = -1;
        string? country = null;
        var countryKnown = false;
        long? asn = null;
        var asnKnown = false;

        foreach (ref readonly var rule in _rules.AsSpan())
        {
            if (rule.Method is not null && (method is null || !string.Equals(rule.Method, method, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            bool matched;
            switch (rule.Kind)
            {
                case MatchKind.Ip:
                    matched = address == rule.Address;
                    break;
                case MatchKind.Cidr:
                    matched = address.IsV4 == rule.Address.IsV4 && (address.Value & rule.Mask) == rule.Address.Value;
                    break;
                case MatchKind.Path:
                    matched = !string.IsNullOrEmpty(path) && rule.Path!.IsMatch(path);
                    break;
                case MatchKind.AnyCountry:
                case MatchKind.AnyAsn:
                    if (local < 0)
                    {
                        local = IsLocalOrCarrierGradeNat(address) ? 1 : 0;
                    }

                    matched = local == 0;
                    break;
                case MatchKind.Country:
                    if (!countryKnown)
                    {
                        country = geo?.Country(client);
                        countryKnown = true;
                    }

                    matched = country is not null && string.Equals(country, rule.Text, StringComparison.OrdinalIgnoreCase);
                    break;
                case MatchKind.Asn:
                    if (!asnKnown)
                    {
                        asn = geo?.Asn(client);
                        asnKnown = true;
                    }

                    matched = asn == rule.Asn;
                    break;
                default:
                    matched = false;
                    break;
            }

            if (matched)
            {
                return rule.Outcome;
            }
        }

        return RuleOutcome.None;
    }

    private static bool TryCompile(EdgeRule rule, out CompiledRule compiled)
    {
        compiled = default;
        var outcome = rule.Action?.ToUpperInvariant() switch
        {
            "ACCEPT" => RuleOutcome.Accept,
            "DROP" => RuleOutcome.Drop,
            "PASS" => RuleOutcome.Pass,
            _ => RuleOutcome.None,
        };
        var value = rule.Value;
        if (outcome == RuleOutcome.None || string.IsNullOrEmpty(value))
        {
            return false;
        }

        var method = string.IsNullOrWhiteSpace(rule.Method) ? null : rule.Method.Trim();
        switch (rule.Match?.ToUpperInvariant())
        {
            case "IP":
                if (!IpKey.TryParse(value, out var ip))
                {
                    return false;
                }

                compiled = new CompiledRule(MatchKind.Ip, outcome, method, ip, UInt128.Zero, null, null, 0);
                return true;

            case "CIDR":
                if (!TryParseCidr(value, out var network, out var mask))
                {
                    return false;
                }

                compiled = new CompiledRule(MatchKind.Cidr, outcome, method, network, mask, null, null, 0);
                return true;

            case "PATH":
                compiled = new CompiledRule(MatchKind.Path, outcome, method, default, UInt128.Zero, PathPattern.Parse(value), null, 0);
                return true;

            case "COUNTRY":
                compiled = value.Equals("ALL", StringComparison.OrdinalIgnoreCase)
                    ? new CompiledRule(MatchKind.AnyCountry, outcome, method, default, UInt128.Zero, null, null, 0)
                    : new CompiledRule(MatchKind.Country, outcome, method, default, UInt128.Zero, null, value.ToUpperInvariant(), 0);
                return true;

            case "ASN":
                if (value.Equals("ALL", StringComparison.OrdinalIgnoreCase) || value.Equals("AS0", StringComparison.OrdinalIgnoreCase))
                {
                    compiled = new CompiledRule(MatchKind.AnyAsn, outcome, method, default, UInt128.Zero, null, null, 0);
                    return true;
                }

                var digits = value.AsSpan();
                if (digits.StartsWith("AS", StringComparison.OrdinalIgnoreCase))
                {
                    digits = digits[2..];
                }

                // Upstream's lookup treats ASN 0 as unknown, so a rule for 0 could never match.
                if (digits.IsEmpty || !digits.ContainsOnlyDigits()
                    || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var asn) || asn <= 0)
                {
                    return false;
                }

                compiled = new CompiledRule(MatchKind.Asn, outcome, method, default, UInt128.Zero, null, null, asn);
                return true;

            default:
                return false;
        }
    }

    private static bool TryParseCidr(string value, out IpKey network, out UInt128 mask)
    {
        network = default;
        mask = UInt128.Zero;
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IpKey.TryParse(value.AsSpan(0, slash), out var address))
        {
            return false;
        }

        var prefixText = value.AsSpan(slash + 1);
        if (prefixText.Length is 0 or > 3 || !prefixText.ContainsOnlyDigits()
            || !int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out var prefix))
        {
            return false;
        }

        // An IPv4-mapped range was parsed as its IPv4 address (IpKey), so its prefix counts IPv4 bits.
        if (address.IsV4 && value.AsSpan(0, slash).Contains(':'))
        {
            if (prefix < 96)
            {
                return false;
            }

            prefix -= 96;
        }

        if (prefix > address.Bits)
        {
            return false;
        }

        mask = IpKey.Mask(prefix, address.Bits);
        network = address with { Value = address.Value & mask };
        return true;
    }

    private static (IpKey Network, UInt128 Mask) Range(string address, int prefix)
    {
        _ = IpKey.TryParse(address, out var key);
        return (key, IpKey.Mask(prefix, key.Bits));
    }

    private static bool IsLocalOrCarrierGradeNat(IpKey address)
    {
        foreach (var (network, mask) in LocalAndCgnat)
        {
            if (network.IsV4 == address.IsV4 && (address.Value & mask) == network.Value)
            {
                return true;
            }
        }

        return false;
    }

    private enum MatchKind
    {
        Ip,
        Cidr,
        Path,
        Country,
        AnyCountry,
        Asn,
        AnyAsn,
    }

    private readonly record struct CompiledRule(
        MatchKind Kind,
        RuleOutcome Outcome,
        string? Method,
        IpKey Address,
        UInt128 Mask,
        PathPattern? Path,
        string? Text,
        long Asn);
}
