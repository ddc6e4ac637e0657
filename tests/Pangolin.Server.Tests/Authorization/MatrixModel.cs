using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>The kinds of caller every endpoint is tried with.</summary>
public enum Who
{
    /// <summary>No session cookie, no API key; tried on every surface the endpoint is served on.</summary>
    Anonymous,

    /// <summary>A member of acme with the built-in Member role only.</summary>
    Member,

    /// <summary>The owner of acme, who holds its Admin role.</summary>
    OrgAdmin,

    /// <summary>The owner and admin of the org "other", not a member of acme.</summary>
    OtherOrgAdmin,

    /// <summary>The server admin, a member of no org under test.</summary>
    ServerAdmin,

    /// <summary>An API key of acme holding every action except the row's.</summary>
    OrgKeyWithout,

    /// <summary>An API key of acme holding exactly the row's action.</summary>
    OrgKeyWith,

    /// <summary>An API key of the org "other" holding every action: it must not reach into acme.</summary>
    OtherOrgKey,

    /// <summary>A root API key holding every action except the row's.</summary>
    RootKeyWithout,

    /// <summary>A root API key holding exactly the row's action.</summary>
    RootKeyWith,
}

/// <summary>The API surfaces an endpoint is served on.</summary>
[Flags]
public enum Surfaces
{
    /// <summary>/api/v1 with the session cookie.</summary>
    Dashboard = 1,

    /// <summary>/v1 with an API key.</summary>
    Integration = 2,

    Both = Dashboard | Integration,
}

/// <summary>
/// One row of the authorization matrix: an endpoint (method and route template without the surface prefix), the
/// access rule it must carry, how to build a request that succeeds for an allowed caller, and the status each kind
/// of caller gets. Several rows may name one endpoint (variants, such as a resource not granted to the member).
/// </summary>
public sealed record MatrixRow(string Method, string Route, AccessScope? Scope, string? Action)
{
    private static readonly Regex Placeholder = new(@"\{(\w+)\}", RegexOptions.CultureInvariant);

    public Surfaces Surfaces { get; init; } = Surfaces.Both;

    /// <summary>What sets this row apart from others naming the same endpoint.</summary>
    public string? Variant { get; init; }

    public ImmutableDictionary<Who, int> Expected { get; init; } = ImmutableDictionary<Who, int>.Empty;

    /// <summary>Route values that differ from the world's defaults.</summary>
    public ImmutableDictionary<string, Func<MatrixWorld, string>> Values { get; init; } = ImmutableDictionary<string, Func<MatrixWorld, string>>.Empty;

    public Func<MatrixCall, object?>? Body { get; init; }

    /// <summary>Runs before each call (as the server admin, usually): fresh targets for destructive calls.</summary>
    public Func<MatrixCall, Task>? Setup { get; init; }

    /// <summary>Runs after each call: puts back what the call changed on a caller's own account.</summary>
    public Func<MatrixCall, Task>? Teardown { get; init; }

    public (string Method, string Route) Endpoint => (Method, Route);

    public MatrixRow Expect(Who who, int status) => this with { Expected = Expected.SetItem(who, status) };

    public MatrixRow Expect(int status, params Who[] who) =>
        this with { Expected = Expected.SetItems(who.Select(w => KeyValuePair.Create(w, status))) };

    public MatrixRow With(string name, Func<MatrixWorld, string> value) => this with { Values = Values.SetItem(name, value) };

    public MatrixRow With(string name, Func<MatrixWorld, int> value) =>
        With(name, w => value(w).ToString(CultureInfo.InvariantCulture));

    public MatrixRow Send(Func<MatrixCall, object?> body) => this with { Body = body };

    public MatrixRow Send(object body) => this with { Body = _ => body };

    public MatrixRow Before(Func<MatrixCall, Task> setup) => this with { Setup = setup };

    public MatrixRow After(Func<MatrixCall, Task> teardown) => this with { Teardown = teardown };

    public MatrixRow Named(string variant) => this with { Variant = variant };

    /// <summary>The path for one call: the template with its values filled in, relative to the surface's base.</summary>
    public string Path(MatrixCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var defaults = call.World.DefaultValues;
        var path = Placeholder.Replace(Route, m =>
        {
            var name = m.Groups[1].Value;
            if (call.Values.TryGetValue(name, out var value))
            {
                return value;
            }
            if (Values.TryGetValue(name, out var fromRow))
            {
                return fromRow(call.World);
            }
            return defaults.TryGetValue(name, out var fromWorld)
                ? fromWorld
                : throw new InvalidOperationException($"{this}: no value for {{{name}}}");
        });
        return path.TrimStart('/');
    }

    public override string ToString() => Variant is null ? $"{Method} {Route}" : $"{Method} {Route} ({Variant})";
}

/// <summary>One call of a row by one kind of caller on one surface: what the row's setup prepared for it.</summary>
public sealed class MatrixCall(MatrixWorld world, Who who, Surfaces surface, int number, int expected) : IDisposable
{
    private readonly List<HttpClient> _owned = [];

    public MatrixWorld World => world;

    public Who Who => who;

    public Surfaces Surface => surface;

    /// <summary>Unique across the run: for names that must not repeat.</summary>
    public int N => number;

    /// <summary>The status the matrix expects, for setups that only prepare costly targets for callers that should succeed.</summary>
    public int Expected => expected;

    /// <summary>The status the call got (for the teardown); 0 before the call.</summary>
    public int Status { get; set; }

    public bool IsUser => who is Who.Member or Who.OrgAdmin or Who.OtherOrgAdmin or Who.ServerAdmin;

    /// <summary>Route values for this call only (a fresh entity to delete).</summary>
    public Dictionary<string, string> Values { get; } = [];

    /// <summary>What the setup learned, for the body and the teardown.</summary>
    public Dictionary<string, string> State { get; } = [];

    /// <summary>A client that replaces the caller's usual one (a fresh session that the call may end).</summary>
    public HttpClient? Client { get; private set; }

    /// <summary>An API key that replaces the caller's usual one (a key of a throwaway org).</summary>
    public string? ApiKey { get; set; }

    public void Use(HttpClient client)
    {
        _owned.Add(client);
        Client = client;
    }

    public HttpClient Own(HttpClient client)
    {
        _owned.Add(client);
        return client;
    }

    public void Set(string name, int value) => Values[name] = value.ToString(CultureInfo.InvariantCulture);

    public void Set(string name, string value) => Values[name] = value;

    public void Dispose()
    {
        foreach (var client in _owned)
        {
            client.Dispose();
        }
    }
}
