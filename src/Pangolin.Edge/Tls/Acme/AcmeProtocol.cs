using System.Text.Json.Serialization;

namespace Pangolin.Edge.Tls.Acme;

// The wire objects of RFC 8555 §7.1 that the client reads and writes. Only the fields the client uses are declared;
// System.Text.Json skips the rest, so a server that adds fields (as RFC 8555 §7.1 allows) does not break us.

/// <summary>The directory object, RFC 8555 §7.1.1: the only URL a client is configured with leads to all others.</summary>
public sealed record AcmeDirectory(
    [property: JsonPropertyName("newNonce")] Uri NewNonce,
    [property: JsonPropertyName("newAccount")] Uri NewAccount,
    [property: JsonPropertyName("newOrder")] Uri NewOrder,
    [property: JsonPropertyName("revokeCert")] Uri? RevokeCert = null,
    [property: JsonPropertyName("keyChange")] Uri? KeyChange = null,
    [property: JsonPropertyName("meta")] AcmeDirectoryMeta? Meta = null);

/// <summary>The directory's optional <c>meta</c> object (RFC 8555 §7.1.1).</summary>
public sealed record AcmeDirectoryMeta(
    [property: JsonPropertyName("termsOfService")] Uri? TermsOfService = null,
    [property: JsonPropertyName("website")] Uri? Website = null,
    [property: JsonPropertyName("externalAccountRequired")] bool ExternalAccountRequired = false);

/// <summary>A problem document, RFC 7807/9457, as ACME servers send with <c>application/problem+json</c> (RFC 8555 §6.7).</summary>
internal sealed record AcmeProblem(
    [property: JsonPropertyName("type")] string? Type = null,
    [property: JsonPropertyName("detail")] string? Detail = null,
    [property: JsonPropertyName("status")] int? Status = null);

internal sealed record AcmeNewAccountRequest(
    [property: JsonPropertyName("termsOfServiceAgreed")] bool TermsOfServiceAgreed,
    [property: JsonPropertyName("contact")] IReadOnlyList<string>? Contact);

internal sealed record AcmeAccount(
    [property: JsonPropertyName("status")] string? Status = null);

internal sealed record AcmeIdentifier(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("value")] string Value);

internal sealed record AcmeNewOrderRequest(
    [property: JsonPropertyName("identifiers")] IReadOnlyList<AcmeIdentifier> Identifiers);

internal sealed record AcmeOrder(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("authorizations")] IReadOnlyList<Uri> Authorizations,
    [property: JsonPropertyName("finalize")] Uri Finalize,
    [property: JsonPropertyName("certificate")] Uri? Certificate = null,
    [property: JsonPropertyName("error")] AcmeProblem? Error = null);

internal sealed record AcmeAuthorization(
    [property: JsonPropertyName("identifier")] AcmeIdentifier Identifier,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("challenges")] IReadOnlyList<AcmeChallengeObject> Challenges,
    [property: JsonPropertyName("wildcard")] bool Wildcard = false);

internal sealed record AcmeChallengeObject(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("url")] Uri Url,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("token")] string? Token = null,
    [property: JsonPropertyName("error")] AcmeProblem? Error = null);

internal sealed record AcmeFinalizeRequest(
    [property: JsonPropertyName("csr")] string Csr);

/// <summary>The empty object a client POSTs to a challenge URL to say it is ready (RFC 8555 §7.5.1).</summary>
internal sealed record AcmeEmptyObject;

/// <summary>A public key as a JWK (RFC 7517); only EC P-256 keys are used here (RFC 7518 §6.2).</summary>
internal sealed record AcmeJwk(
    [property: JsonPropertyName("crv")] string Crv,
    [property: JsonPropertyName("kty")] string Kty,
    [property: JsonPropertyName("x")] string X,
    [property: JsonPropertyName("y")] string Y);

/// <summary>The JWS protected header of RFC 8555 §6.2: exactly one of <c>jwk</c> and <c>kid</c>.</summary>
internal sealed record AcmeProtectedHeader(
    [property: JsonPropertyName("alg")] string Alg,
    [property: JsonPropertyName("nonce")] string Nonce,
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("jwk")] AcmeJwk? Jwk,
    [property: JsonPropertyName("kid")] string? Kid);

/// <summary>The flattened JWS JSON serialization (RFC 7515 §7.2.2) that RFC 8555 §6.2 requires.</summary>
internal sealed record AcmeJwsMessage(
    [property: JsonPropertyName("protected")] string Protected,
    [property: JsonPropertyName("payload")] string Payload,
    [property: JsonPropertyName("signature")] string Signature);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AcmeDirectory))]
[JsonSerializable(typeof(AcmeProblem))]
[JsonSerializable(typeof(AcmeNewAccountRequest))]
[JsonSerializable(typeof(AcmeAccount))]
[JsonSerializable(typeof(AcmeNewOrderRequest))]
[JsonSerializable(typeof(AcmeOrder))]
[JsonSerializable(typeof(AcmeAuthorization))]
[JsonSerializable(typeof(AcmeFinalizeRequest))]
[JsonSerializable(typeof(AcmeEmptyObject))]
[JsonSerializable(typeof(AcmeChallengeObject))]
[JsonSerializable(typeof(AcmeProtectedHeader))]
[JsonSerializable(typeof(AcmeJwsMessage))]
internal sealed partial class AcmeJsonContext : JsonSerializerContext;
