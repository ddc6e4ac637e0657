using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;
using Pangolin.Server.Dashboard;
using Pangolin.Server.Dashboard.Layout;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The layout as a component (bUnit): the page's body inside it, and the dark mode switch.</summary>
public sealed class MainLayoutTests : BunitContext
{
    public MainLayoutTests()
    {
        Services.AddMudServices();
        Services.AddScoped<DashboardSession>();
        Services.AddSingleton<Microsoft.AspNetCore.Http.IHttpContextAccessor>(new Microsoft.AspNetCore.Http.HttpContextAccessor());
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new Pangolin.Server.Configuration.ServerOptions()));
        JSInterop.Mode = JSRuntimeMode.Loose; // MudBlazor's own JS (popovers, resize) has nothing to do here
        Renderer.SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    [Fact]
    public void Renders_the_page_inside_and_switches_between_light_and_dark()
    {
        RenderFragment body = b => b.AddMarkupContent(0, "<p id=\"page\">the page</p>");
        var layout = Render<MainLayout>(p => p.Add(l => l.Body, body));

        Assert.Equal("the page", layout.Find("main #page").TextContent);
        var toggle = layout.Find("[data-test=theme-toggle]");
        Assert.Equal("Dark mode", toggle.GetAttribute("aria-label"));
        toggle.Click();
        Assert.Equal("Light mode", layout.Find("[data-test=theme-toggle]").GetAttribute("aria-label"));
        layout.Find("[data-test=theme-toggle]").Click();
        Assert.Equal("Dark mode", layout.Find("[data-test=theme-toggle]").GetAttribute("aria-label"));
        // Nobody signed in: nothing to sign out of.
        Assert.Empty(layout.FindAll("[data-test=sign-out]"));
    }
}
