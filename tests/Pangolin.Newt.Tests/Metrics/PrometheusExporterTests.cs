using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using Pangolin.Newt.Metrics;

namespace Pangolin.Newt.Tests.Metrics;

/// <summary>The text exposition format 0.0.4, read off a real <see cref="MeterListener"/>.</summary>
public sealed class PrometheusExporterTests
{
    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    private static int Count(string text, string line) => text.Split('\n').Count(l => l == line);

    [Fact]
    public void A_counter_gets_the_total_suffix_and_its_family_one_HELP_and_one_TYPE_line()
    {
        using var meter = new Meter("test");
        using var exporter = new PrometheusExporter(meter);
        var requests = meter.CreateCounter<long>("requests", description: "Requests served");
        var replies = meter.CreateCounter<long>("replies_total", description: "Replies");

        requests.Add(2, Tag("code", "200"));
        requests.Add(3, Tag("code", "200"));
        requests.Add(1, Tag("code", "404"));
        replies.Add(7);
        var text = exporter.Scrape();

        Assert.Equal(1, Count(text, "# HELP requests_total Requests served"));
        Assert.Equal(1, Count(text, "# TYPE requests_total counter"));
        Assert.Equal(1, Count(text, "# TYPE replies_total counter"));
        Assert.Contains("requests_total{code=\"200\"} 5\n", text, StringComparison.Ordinal);
        Assert.Contains("requests_total{code=\"404\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("replies_total 7\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("_total_total", text, StringComparison.Ordinal);
        // Every sample line sits below its own family's TYPE line.
        Assert.Matches(new Regex(@"\A(# HELP (\w+) .*\n# TYPE \2 \w+\n(\2(\{.*\})? \S+\n)+)+\z"), text);
    }

    [Fact]
    public void Label_values_and_help_text_are_escaped()
    {
        using var meter = new Meter("test");
        using var exporter = new PrometheusExporter(meter);
        var counter = meter.CreateCounter<long>("odd_total", description: "Back\\slash and\nnewline");

        counter.Add(1, Tag("path", "C:\\dir \"quoted\"\nnext"));
        var text = exporter.Scrape();

        Assert.Contains("# HELP odd_total Back\\\\slash and\\nnewline\n", text, StringComparison.Ordinal);
        Assert.Contains("odd_total{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Histogram_buckets_are_cumulative_and_end_with_Inf_sum_and_count()
    {
        using var meter = new Meter("test");
        using var exporter = new PrometheusExporter(meter);
        var latency = meter.CreateHistogram("latency_seconds", "s", "Latency", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5] });

        foreach (var value in new[] { 0.5, 1.5, 1.5, 2, 10 })
        {
            latency.Record(value, Tag("peer", "a"));
        }
        var text = exporter.Scrape();

        Assert.Equal(1, Count(text, "# TYPE latency_seconds histogram"));
        Assert.Contains(
            "latency_seconds_bucket{peer=\"a\",le=\"1\"} 1\n" +
            "latency_seconds_bucket{peer=\"a\",le=\"2\"} 4\n" +
            "latency_seconds_bucket{peer=\"a\",le=\"5\"} 4\n" +
            "latency_seconds_bucket{peer=\"a\",le=\"+Inf\"} 5\n" +
            "latency_seconds_sum{peer=\"a\"} 15.5\n" +
            "latency_seconds_count{peer=\"a\"} 5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Observable_instruments_are_read_afresh_at_each_scrape()
    {
        using var meter = new Meter("test");
        using var exporter = new PrometheusExporter(meter);
        long total = 3;
        var open = true;
        meter.CreateObservableCounter("bytes_total", () => total);
        meter.CreateObservableGauge("open", () => open ? [new Measurement<long>(1)] : Array.Empty<Measurement<long>>());

        var first = exporter.Scrape();
        total = 10;
        open = false;
        var second = exporter.Scrape();

        Assert.Contains("bytes_total 3\n", first, StringComparison.Ordinal);
        Assert.Contains("# TYPE open gauge\nopen 1\n", first, StringComparison.Ordinal);
        Assert.Contains("bytes_total 10\n", second, StringComparison.Ordinal);
        Assert.DoesNotContain("open", second, StringComparison.Ordinal);
    }

    [Fact]
    public void The_meters_tags_label_every_series_and_other_meters_are_left_out()
    {
        using var meter = new Meter(new MeterOptions("test") { Tags = [Tag("site_id", "s1")] });
        using var other = new Meter("test");
        using var exporter = new PrometheusExporter(meter);
        meter.CreateUpDownCounter<long>("queue").Add(4, Tag("kind", "x"));
        meter.CreateUpDownCounter<long>("queue2").Add(-1);
        other.CreateCounter<long>("foreign_total").Add(1);

        var text = exporter.Scrape();

        Assert.Contains("# TYPE queue gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("queue{site_id=\"s1\",kind=\"x\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("queue2{site_id=\"s1\"} -1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("foreign", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(12345.0, "12345")]
    [InlineData(0.25, "0.25")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void Values_are_written_as_Prometheus_reads_them(double value, string expected) =>
        Assert.Equal(expected, PrometheusExporter.FormatValue(value));
}
