using Pangolin.Server.Edge;

namespace Pangolin.Server.Tests.Edge;

/// <summary>When a certificate is due for renewal, for the lifetimes CAs issue.</summary>
public sealed class AcmeRenewalTimeTests
{
    private static readonly DateTime Issued = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Theory]
    [InlineData(90 * 24, 30 * 24)] // the usual ACME certificate: with 30 days left
    [InlineData(160, 160 / 3.0)] // Let's Encrypt's short-lived profile (160 hours): with a third left
    [InlineData(45 * 24, 15 * 24)] // the 45-day certificates CAs move to: with 15 days left
    [InlineData(397 * 24, 30 * 24)] // the longest a public CA issues: 30 days ahead is enough
    public void A_certificate_is_renewed_when_a_third_of_its_lifetime_is_left_and_at_latest_30_days_before_its_end(double lifetimeHours, double leftHours)
    {
        var notAfter = Issued.AddHours(lifetimeHours);
        var renewAt = AcmeScheduler.RenewalTime(Issued, notAfter);
        Assert.Equal(leftHours, (notAfter - renewAt).TotalHours, precision: 6);
        // Due well after it was issued: never a new order right after the last one.
        Assert.True(renewAt - Issued >= (notAfter - Issued) * 2 / 3 - TimeSpan.FromSeconds(1));
    }
}
