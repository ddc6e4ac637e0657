using System.Collections;
using System.ComponentModel.DataAnnotations;

namespace Pangolin.Server;

/// <summary>A validation attribute that also checks the value inside a set <see cref="Optional{T}"/> (unset passes).</summary>
public abstract class PangolinValidationAttribute : ValidationAttribute
{
    protected PangolinValidationAttribute(string message) : base(message) { }

    public sealed override bool IsValid(object? value) => Check(value is IOptionalValue o ? o.BoxedValue : value);

    protected abstract bool Check(object? value);
}

/// <summary>A string of a bounded length (Optional-aware StringLength).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class TextLengthAttribute(int min, int max) : PangolinValidationAttribute(min == max ? $"must be {min} characters long" : $"must be {min}–{max} characters long")
{
    public int Min { get; } = min;
    public int Max { get; } = max;

    protected override bool Check(object? value) => value is null || (value is string s && s.Length >= Min && s.Length <= Max);
}

/// <summary>An integer in a range (Optional-aware Range).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class IntRangeAttribute(int min, int max) : PangolinValidationAttribute($"must be between {min} and {max}")
{
    public int Min { get; } = min;
    public int Max { get; } = max;

    protected override bool Check(object? value) => value is null || (value is int i && i >= Min && i <= Max);
}

/// <summary>An Optional field that, when present, must not be null.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class NonNullAttribute : ValidationAttribute
{
    public NonNullAttribute() : base("must not be null") { }

    public override bool IsValid(object? value) => value is not IOptionalValue { IsSet: true, BoxedValue: null };
}

/// <summary>An Optional field that must be present in the body (its value may be null).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class PresentAttribute : ValidationAttribute
{
    public PresentAttribute() : base("is required (it may be null)") { }

    public override bool IsValid(object? value) => value is IOptionalValue { IsSet: true };
}

/// <summary>A list without null items (nullable annotations do not reach a list's items).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class NonNullItemsAttribute : PangolinValidationAttribute
{
    public NonNullItemsAttribute() : base("must not contain null") { }

    protected override bool Check(object? value) => value is not IEnumerable items || items.Cast<object?>().All(i => i is not null);
}

/// <summary>An absolute http:// or https:// URL.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class AbsoluteHttpUrlAttribute : PangolinValidationAttribute
{
    public AbsoluteHttpUrlAttribute() : base("must be an absolute http:// or https:// URL") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsHttpUrl(s));
}

/// <summary>A list of absolute http(s) URLs.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class AbsoluteHttpUrlListAttribute : PangolinValidationAttribute
{
    public AbsoluteHttpUrlListAttribute() : base("must be a list of absolute http:// or https:// URLs") { }

    protected override bool Check(object? value) =>
        value is null || (value is IEnumerable<string> items && items.All(Syntax.IsHttpUrl));
}

/// <summary>An IPv4 or IPv6 address.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class IpAddressAttribute : PangolinValidationAttribute
{
    public IpAddressAttribute() : base("must be an IPv4 or IPv6 address") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.TryParseIp(s, out _));
}

/// <summary>A network in CIDR notation whose address has no bits outside the prefix.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class CidrAttribute : PangolinValidationAttribute
{
    public CidrAttribute() : base("must be a network in CIDR notation, such as 100.90.128.0/24") { }

    public bool IPv4Only { get; set; }

    protected override bool Check(object? value) =>
        value is null || (value is string s && Syntax.IsNetwork(s, out var net)
            && (!IPv4Only || net.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
}

/// <summary>A list of IP addresses or CIDR networks.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class IpOrCidrListAttribute : PangolinValidationAttribute
{
    public IpOrCidrListAttribute() : base("must be a list of IP addresses or CIDR networks") { }

    protected override bool Check(object? value) =>
        value is null || (value is IEnumerable items && items.Cast<object?>().All(i => i is string s && Syntax.TryParseIpOrCidr(s, out _)));
}

/// <summary>A DNS host name such as example.com (letters, digits and hyphens in labels of 1–63).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class DomainNameAttribute : PangolinValidationAttribute
{
    public DomainNameAttribute() : base("must be a domain name such as example.com") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsDomainName(s));
}

/// <summary>An e-mail address (a stricter check than DataAnnotations' EmailAddress).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class EmailAttribute : PangolinValidationAttribute
{
    public EmailAttribute() : base("must be an e-mail address") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsEmail(s));
}

/// <summary>Every element of a list of strings is an e-mail address.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class EmailListAttribute : PangolinValidationAttribute
{
    public EmailListAttribute() : base("must be a list of e-mail addresses") { }

    protected override bool Check(object? value) =>
        value is null || (value is IEnumerable<string> items && items.All(Syntax.IsEmail));
}

/// <summary>A short id made of lowercase letters, digits, '_' and single inner hyphens (an org id).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class OrgIdAttribute : PangolinValidationAttribute
{
    public OrgIdAttribute() : base("must be 1–32 lowercase letters, digits or '_', with single hyphens between them") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsOrgId(s));
}

/// <summary>A nice id: letters, digits and hyphens.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class NiceIdAttribute : PangolinValidationAttribute
{
    public NiceIdAttribute() : base("must be 1–255 letters, digits or hyphens") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsNiceId(s));
}

/// <summary>A subdomain: dot-separated DNS labels, or null for the base domain itself.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class SubdomainAttribute : PangolinValidationAttribute
{
    public SubdomainAttribute() : base("must be DNS labels separated by dots, such as 'app' or 'app.eu'") { }

    protected override bool Check(object? value) => value is null || (value is string s && Syntax.IsSubdomain(s));
}

/// <summary>A host name or an IP address (a target).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class HostOrIpAttribute : PangolinValidationAttribute
{
    public HostOrIpAttribute() : base("must be a host name or an IP address") { }

    protected override bool Check(object? value) =>
        value is null || (value is string s && (Syntax.TryParseIp(s, out _) || Syntax.IsDomainName(s)));
}

/// <summary>One of a fixed set of strings (case-sensitive, as upstream's enums).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class OneOfAttribute(params string[] allowed) : PangolinValidationAttribute($"must be one of: {string.Join(", ", allowed)}")
{
    public IReadOnlyList<string> Allowed { get; } = allowed;

    protected override bool Check(object? value) => value is null || (value is string s && allowed.Contains(s, StringComparer.Ordinal));
}
