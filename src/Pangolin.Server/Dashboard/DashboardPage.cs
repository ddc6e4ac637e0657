using System.Net;
using Microsoft.AspNetCore.Components;
using MudBlazor;

namespace Pangolin.Server.Dashboard;

/// <summary>
/// The base of the signed-in pages: API calls that send a signed-out browser to the login page (and back here after),
/// and an answer's problem details kept by field for the form that caused them.
/// </summary>
public abstract class DashboardPage : ComponentBase
{
    [Inject]
    protected DashboardApi Api { get; set; } = default!;

    [Inject]
    protected DashboardContext Context { get; set; } = default!;

    [Inject]
    protected NavigationManager Navigation { get; set; } = default!;

    [Inject]
    protected ISnackbar Snackbar { get; set; } = default!;

    /// <summary>The last failed call's errors by API field name (camelCase, as the API reports them).</summary>
    protected FieldErrors Errors { get; } = new();

    protected Task<ApiAnswer<T>> GetAsync<T>(string path) => CallAsync<T>(HttpMethod.Get, path, null);

    /// <summary>Calls the API; a failure keeps its field errors (for the fields) and says so, or shows its message.</summary>
    protected async Task<ApiAnswer<T>> CallAsync<T>(HttpMethod method, string path, object? body, bool toastFailure = true)
    {
        var answer = await Api.SendAsync<T>(method, path, body, default);
        if (answer.SignedOut)
        {
            Navigation.NavigateTo("/auth/login?redirect=" + Uri.EscapeDataString("/" + Navigation.ToBaseRelativePath(Navigation.Uri)), forceLoad: true);
            return answer;
        }
        if (method != HttpMethod.Get)
        {
            Errors.Set(answer);
        }
        if (!answer.Ok && toastFailure && answer.Status != HttpStatusCode.NotFound)
        {
            // Errors by field are told at their fields; the toast then only points there.
            Snackbar.Add(answer.Errors.Count > 0 ? "Some fields need a change: see the messages below them."
                : answer.Message ?? $"The server answered {(int)answer.Status}.", Severity.Error);
        }
        return answer;
    }
}

/// <summary>An API answer's field errors, looked up by the API's field name for MudBlazor's Error/ErrorText.</summary>
public sealed class FieldErrors
{
    private IReadOnlyDictionary<string, string[]> _errors = new Dictionary<string, string[]>();

    public void Set<T>(ApiAnswer<T> answer) => _errors = answer.Ok ? new Dictionary<string, string[]>() : answer.Errors;

    public void Clear() => _errors = new Dictionary<string, string[]>();

    public bool Has(string field) => Text(field) is not null;

    /// <summary>The messages for a field, matched without regard to case ("Name" and "name" are the same field).</summary>
    public string? Text(string field)
    {
        foreach (var (key, messages) in _errors)
        {
            if (string.Equals(key, field, StringComparison.OrdinalIgnoreCase) && messages.Length > 0)
            {
                return string.Join(" ", messages);
            }
        }
        return null;
    }
}
