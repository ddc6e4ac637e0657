using System.Text;
using System.Text.Json;
using Deque.AxeCore.Commons;
using Microsoft.Playwright;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// axe-core run straight in the page: the bundled script is evaluated once per document (through the DevTools
/// protocol, which the dashboard's Content-Security-Policy does not apply to) and asked for violations only. The
/// dashboard has no frames, so axe's multi-frame path — a fresh blank page per run to combine the frames' results,
/// about two seconds each here — buys nothing.
/// </summary>
internal static class AxeAudit
{
    private static readonly Lazy<string> Script = new(() => new BundledAxeScriptProvider().GetScript());

    /// <summary>WCAG 2.1 A and AA, every rule.</summary>
    public static readonly string[] WcagAaTags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

    private const string Run = """
        async ([tags, rules]) => {
          const options = { resultTypes: ['violations'], runOnly: rules ? { type: 'rule', values: rules } : { type: 'tag', values: tags } };
          const result = await axe.run(document, options);
          return JSON.stringify(result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.length,
            examples: v.nodes.slice(0, 5).map(n => ({
              target: n.target.join(' '),
              html: n.html,
              message: [...n.any, ...n.all, ...n.none].map(c => c.message).find(m => m) ?? '' })) })));
        }
        """;

    /// <summary>
    /// Audits the page as it is now and adds each violation, with up to five of its elements, to
    /// <paramref name="problems"/>. <paramref name="rules"/>, when given, runs those rules instead of all of WCAG AA.
    /// </summary>
    public static async Task AuditAsync(IPage page, string label, StringBuilder problems, string[]? rules = null)
    {
        if (!await page.EvaluateAsync<bool>("() => typeof window.axe === 'object'"))
        {
            await page.EvaluateAsync(Script.Value);
        }
        var json = await page.EvaluateAsync<string>(Run, new object?[] { WcagAaTags, rules });
        using var violations = JsonDocument.Parse(json);
        foreach (var violation in violations.RootElement.EnumerateArray())
        {
            problems.AppendLine($"{label}: {violation.GetProperty("id").GetString()} ({violation.GetProperty("impact").GetString()}) {violation.GetProperty("help").GetString()}"
                + $" — {violation.GetProperty("nodes").GetInt32()} element(s)");
            foreach (var node in violation.GetProperty("examples").EnumerateArray())
            {
                problems.AppendLine($"    {node.GetProperty("target").GetString()} {Shorten(node.GetProperty("html").GetString())}");
                problems.AppendLine($"      {node.GetProperty("message").GetString()}");
            }
        }
    }

    private static string Shorten(string? html) => html is null ? "" : html.Length <= 160 ? html : html[..160] + "…";
}
