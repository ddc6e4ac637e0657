using System.Net;
using System.Text;
using System.Text.Json;
using Bunit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MudBlazor.Services;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Dashboard;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The API as a bUnit component test sees it: answers set per "METHOD path" (path as the dashboard sends it, below
/// /api/v1/, with its query), and every request kept with its JSON body so a test can check what a component sent.
/// </summary>
public sealed class FakeApi : HttpMessageHandler
{
    private readonly Dictionary<string, Func<HttpRequestMessage, string?, (HttpStatusCode, object?)>> _answers = new(StringComparer.Ordinal);

    public List<(HttpMethod Method, string Path, JsonElement? Body)> Requests { get; } = [];

    /// <summary>Answers with the API's envelope: <c>{"data": …, "success": true}</c>.</summary>
    public FakeApi On(HttpMethod method, string path, object? data, HttpStatusCode status = HttpStatusCode.OK) =>
        On(method, path, (_, _) => (status, data));

    public FakeApi On(HttpMethod method, string path, Func<HttpRequestMessage, string?, (HttpStatusCode, object?)> answer)
    {
        _answers[$"{method} {path}"] = answer;
        return this;
    }

    /// <summary>A problem details answer with errors by field, as the API sends for invalid input.</summary>
    public static object Problem(string detail, params (string Field, string Message)[] errors) =>
        new ProblemBody(detail, errors.ToDictionary(e => e.Field, e => new[] { e.Message }));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.PathAndQuery;
        path = path.StartsWith("/api/v1/", StringComparison.Ordinal) ? path["/api/v1/".Length..] : path.TrimStart('/');
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        lock (Requests)
        {
            Requests.Add((request.Method, path, body is { Length: > 0 } ? JsonDocument.Parse(body).RootElement.Clone() : null));
        }
        if (!_answers.TryGetValue($"{request.Method} {path}", out var answer))
        {
            return Json(HttpStatusCode.NotFound, new { detail = $"no fake answer for {request.Method} {path}", status = 404 });
        }
        var (status, data) = answer(request, body);
        return data is ProblemBody problem
            ? Json(status, new { detail = problem.Detail, status = (int)status, errors = problem.Errors })
            : Json(status, new { data, success = (int)status < 300, error = false, message = "", status = (int)status });
    }

    private static HttpResponseMessage Json(HttpStatusCode status, object body) =>
        new(status) { Content = new StringContent(JsonSerializer.Serialize(body, JsonSerializerOptions.Web), Encoding.UTF8, "application/json") };

    private sealed record ProblemBody(string Detail, Dictionary<string, string[]> Errors);
}

/// <summary>The services a dashboard component needs under bUnit, with the API answered by a <see cref="FakeApi"/>.</summary>
public static class DashboardBunit
{
    public static FakeApi AddDashboard(this BunitContext context, bool signedIn = true)
    {
        ArgumentNullException.ThrowIfNull(context);
        var api = new FakeApi();
        var services = context.Services;
        services.AddMudServices();
        var session = new DashboardSession();
        if (signedIn)
        {
            session.UseToken("test-session");
        }
        services.AddSingleton(session);
        services.AddSingleton<IHttpContextAccessor>(new HttpContextAccessor());
        services.AddSingleton(Options.Create(new ServerOptions()));
        services.AddSingleton(new SecretProtector("bunit-secret-of-sufficient-length-0123456789"));
        services.AddScoped(sp => new DashboardApi(new HttpClient(api) { BaseAddress = new Uri("http://127.0.0.1/api/v1/") },
            sp.GetRequiredService<DashboardSession>(), sp.GetRequiredService<IHttpContextAccessor>(),
            sp.GetRequiredService<SecretProtector>(), sp.GetRequiredService<IOptions<ServerOptions>>()));
        services.AddScoped<DashboardContext>();
        context.JSInterop.Mode = JSRuntimeMode.Loose; // MudBlazor's own JS (popovers, resize) has nothing to do here
        context.Renderer.SetRendererInfo(new Microsoft.AspNetCore.Components.RendererInfo("Server", isInteractive: true));
        return api;
    }
}
