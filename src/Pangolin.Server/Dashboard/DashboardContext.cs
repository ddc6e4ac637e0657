namespace Pangolin.Server.Dashboard;

/// <summary>The signed-in person and their organizations, as the API reports them; one per circuit (or static render).</summary>
public sealed class DashboardContext(DashboardApi api)
{
    public sealed record CurrentUser(string UserId, string Email, string? Name, bool TwoFactorEnabled, bool ServerAdmin);

    public sealed record OrgItem(string OrgId, string Name);

    private sealed record OrgList(List<OrgItem> Orgs);

    private Task? _loading;

    public CurrentUser? User { get; private set; }

    public IReadOnlyList<OrgItem> Orgs { get; private set; } = [];

    /// <summary>Raised after <see cref="RefreshAsync"/>, so that the navigation shows a new or renamed organization.</summary>
    public event Action? Changed;

    /// <summary>Loads once per circuit; later callers share the first load.</summary>
    public Task LoadAsync(CancellationToken ct) => _loading ??= RefreshCoreAsync(ct);

    public async Task RefreshAsync(CancellationToken ct)
    {
        _loading = RefreshCoreAsync(ct);
        await _loading;
        Changed?.Invoke();
    }

    private async Task RefreshCoreAsync(CancellationToken ct)
    {
        var user = await api.GetAsync<CurrentUser>("user", ct);
        User = user.Ok ? user.Data : null;
        Orgs = User is null ? [] : (await api.GetAsync<OrgList>($"user/{Uri.EscapeDataString(User.UserId)}/orgs", ct)).Data?.Orgs ?? [];
    }
}
