using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

/// <summary>
/// Sets TXT records through pebble-challtestsrv's management API (<c>set-txt</c>, <c>clear-txt</c>), and records the
/// calls so that tests can check that every record set was removed again.
/// </summary>
/// <remarks>challtestsrv clears all values of a name at once; that is all it offers, and enough here.</remarks>
internal sealed class ChallTestSrvDnsProvider(HttpClient http, Uri managementUrl) : IDnsProvider
{
    private readonly Lock _lock = new();
    private readonly List<(string Name, string Value)> _set = [];
    private readonly List<(string Name, string Value)> _removed = [];

    public IReadOnlyList<(string Name, string Value)> Set
    {
        get
        {
            lock (_lock)
            {
                return [.. _set];
            }
        }
    }

    public IReadOnlyList<(string Name, string Value)> Removed
    {
        get
        {
            lock (_lock)
            {
                return [.. _removed];
            }
        }
    }

    public async Task SetTxtAsync(string name, string value, CancellationToken cancellationToken)
    {
        // challtestsrv answers queries for fully qualified names: with the trailing dot.
        using var response = await http.PostAsync(
            new Uri(managementUrl, "set-txt"),
            JsonContent.Create(new ChallTestSrvTxtRecord(name + ".", value), TlsTestJsonContext.Default.ChallTestSrvTxtRecord),
            cancellationToken);
        response.EnsureSuccessStatusCode();
        lock (_lock)
        {
            _set.Add((name, value));
        }
    }

    public async Task RemoveTxtAsync(string name, string value, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(
            new Uri(managementUrl, "clear-txt"),
            JsonContent.Create(new ChallTestSrvTxtRecord(name + ".", null), TlsTestJsonContext.Default.ChallTestSrvTxtRecord),
            cancellationToken);
        response.EnsureSuccessStatusCode();
        lock (_lock)
        {
            _removed.Add((name, value));
        }
    }
}

internal sealed record ChallTestSrvTxtRecord(
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("value")] string? Value);

internal sealed record ChallTestSrvARecord(
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("addresses")] IReadOnlyList<string> Addresses);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ChallTestSrvTxtRecord))]
[JsonSerializable(typeof(ChallTestSrvARecord))]
internal sealed partial class TlsTestJsonContext : JsonSerializerContext;

/// <summary>Passes challenges on to another responder and records them.</summary>
internal sealed class RecordingResponder(IAcmeChallengeResponder inner) : IAcmeChallengeResponder
{
    private readonly Lock _lock = new();
    private readonly List<AcmeChallenge> _published = [];
    private readonly List<AcmeChallenge> _removed = [];

    public IReadOnlyList<string> SupportedTypes => inner.SupportedTypes;

    public IReadOnlyList<AcmeChallenge> Published
    {
        get
        {
            lock (_lock)
            {
                return [.. _published];
            }
        }
    }

    public IReadOnlyList<AcmeChallenge> Removed
    {
        get
        {
            lock (_lock)
            {
                return [.. _removed];
            }
        }
    }

    public async Task PublishAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        await inner.PublishAsync(challenge, cancellationToken);
        lock (_lock)
        {
            _published.Add(challenge);
        }
    }

    public async Task RemoveAsync(AcmeChallenge challenge, CancellationToken cancellationToken)
    {
        await inner.RemoveAsync(challenge, cancellationToken);
        lock (_lock)
        {
            _removed.Add(challenge);
        }
    }
}
