namespace Pangolin.Edge.Tests;

public sealed class ModelTests
{
    [Fact]
    public void A_policy_without_any_sign_in_method_is_open_and_one_with_any_is_not()
    {
        Assert.True(EdgeAccessPolicy.Open.IsOpen);
        Assert.False((EdgeAccessPolicy.Open with { HasPincode = true }).IsOpen);
        Assert.False((EdgeAccessPolicy.Open with { Sso = true }).IsOpen);
        Assert.False((EdgeAccessPolicy.Open with { HasHeaderAuth = true }).IsOpen);
    }
}
