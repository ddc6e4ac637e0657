using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Pangolin.Server.Auth;
using Scalar.AspNetCore;

namespace Pangolin.Server.Apis;

/// <summary>
/// OpenAPI documents generated from the endpoints: "v1" for the integration API (served at /v1/openapi.json,
/// browsable at /v1/docs) and "dashboard" for the session-authenticated /api/v1.
/// </summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddPangolinOpenApi(this IServiceCollection services)
    {
        services.AddOpenApi("v1", o =>
        {
            o.AddSchemaTransformer(DescribeOptionalFields);
            o.ShouldInclude = d => d.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Pangolin integration API",
                    Version = "v1",
                    Description = "Manage organizations, sites, resources, targets, rules, roles, users, API keys and domains. " +
                        "Authenticate with `Authorization: Bearer <apiKeyId>.<secret>`. PUT creates, POST updates. " +
                        "Successes use the envelope {data, success, error, message, status}; errors are RFC 9457 problem details with the same fields.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes["apiKey"] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "<apiKeyId>.<secret>",
                };
                document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("apiKey", document)] = [] }];
                return Task.CompletedTask;
            });
        });
        services.AddOpenApi("dashboard", o =>
        {
            o.AddSchemaTransformer(DescribeOptionalFields);
            o.ShouldInclude = d => d.RelativePath?.StartsWith("api/v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Pangolin dashboard API",
                    Version = "v1",
                    Description = $"The same operations as the integration API plus sign-in, for a browser session (cookie p_session_token). " +
                        $"Every non-GET request needs the header {Operations.CsrfMiddleware.HeaderName}: {Operations.CsrfMiddleware.HeaderValue}.",
                };
                return Task.CompletedTask;
            });
        });
        return services;
    }

    /// <summary>An <see cref="Optional{T}"/> field is documented as its value type (it only differs in telling absent from null).</summary>
    private static async Task DescribeOptionalFields(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(Optional<>))
        {
            return;
        }
        var inner = await context.GetOrCreateSchemaAsync(type.GetGenericArguments()[0], null, cancellationToken);
        schema.Type = inner.Type;
        schema.Format = inner.Format;
        schema.Items = inner.Items;
        schema.Properties = inner.Properties;
        schema.AdditionalProperties = inner.AdditionalProperties;
        schema.Enum = inner.Enum;
        schema.Description ??= "Optional: leave the field out to keep the current value";
    }

    public static WebApplication MapPangolinOpenApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapOpenApi(AuthSchemes.IntegrationPrefix + "/openapi.json").AllowAnonymous();
        app.MapOpenApi("/api/v1/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference(AuthSchemes.IntegrationPrefix + "/docs", o => o
            .WithTitle("Pangolin integration API")
            .WithOpenApiRoutePattern(AuthSchemes.IntegrationPrefix + "/openapi.json"))
            .AllowAnonymous();
        return app;
    }
}
