using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Pangolin.Newt.Metrics;

/// <summary>
/// Collects one <see cref="Meter"/>'s instruments through a <see cref="MeterListener"/> and writes them in the
/// Prometheus text format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). Hand-written rather
/// than OpenTelemetry's exporter to keep the AOT binary small (docs/plans/sites.md, risks §3).
/// </summary>
/// <remarks>
/// Counters and histograms are cumulative since start; observable instruments are read afresh at each scrape, so a
/// series they stop reporting disappears. The meter's and the instrument's own tags become labels of every series.
/// </remarks>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    // Prometheus' client defaults, for histograms that advise no boundaries.
    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly MeterListener _listener = new();
    private readonly Lock _scrape = new();
    private readonly Lock _data = new();
    private readonly List<Family> _families = [];

    public PrometheusExporter(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter != meter)
            {
                return;
            }
            var family = new Family(instrument);
            lock (_data)
            {
                _families.Add(family);
            }
            listener.EnableMeasurementEvents(instrument, family);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => Record((Family)state!, value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => Record((Family)state!, value, tags));
        _listener.Start();
    }

    /// <summary>Reads the observable instruments and writes every family that has a series.</summary>
    public string Scrape()
    {
        lock (_scrape)
        {
            lock (_data)
            {
                foreach (var family in _families.Where(f => f.Instrument.IsObservable))
                {
                    family.Series.Clear();
                }
            }
            _listener.RecordObservableInstruments();
            var text = new StringBuilder();
            lock (_data)
            {
                foreach (var family in _families.Where(f => f.Series.Count > 0).OrderBy(f => f.Name, StringComparer.Ordinal))
                {
                    family.WriteTo(text);
                }
            }
            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Family family, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = Labels(family.Instrument, tags);
        lock (_data)
        {
            if (!family.Series.TryGetValue(labels, out var series))
            {
                series = new Series(family.Buckets?.Length ?? 0);
                family.Series.Add(labels, series);
            }
            series.Add(family, value);
        }
    }

    /// <summary>The series key: <c>name="value",…</c> of the meter's, the instrument's and the measurement's tags.</summary>
    private static string Labels(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var text = new StringBuilder();
        foreach (var tag in instrument.Meter.Tags ?? [])
        {
            AppendLabel(text, tag);
        }
        foreach (var tag in instrument.Tags ?? [])
        {
            AppendLabel(text, tag);
        }
        foreach (var tag in tags)
        {
            AppendLabel(text, tag);
        }
        return text.ToString();
    }

    private static void AppendLabel(StringBuilder text, KeyValuePair<string, object?> tag)
    {
        if (text.Length > 0)
        {
            text.Append(',');
        }
        text.Append(SafeName(tag.Key, colons: false)).Append("=\"");
        foreach (var c in Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")
        {
            text.Append(c switch { '\\' => @"\\", '"' => "\\\"", '\n' => @"\n", _ => c.ToString() });
        }
        text.Append('"');
    }

    /// <summary>Metric names may hold <c>[a-zA-Z0-9_:]</c>, label names no colon; anything else becomes '_'.</summary>
    private static string SafeName(string name, bool colons) =>
        string.Concat(name.Select((c, i) => char.IsAsciiLetter(c) || c == '_' || (colons && c == ':') || (i > 0 && char.IsAsciiDigit(c)) ? c : '_'));

    internal static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ when value == Math.Floor(value) && Math.Abs(value) < 1e15 => ((long)value).ToString(CultureInfo.InvariantCulture),
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private sealed class Family
    {
        public Family(Instrument instrument)
        {
            Instrument = instrument;
            Type = instrument switch
            {
                Counter<long> or Counter<double> or ObservableCounter<long> or ObservableCounter<double> => "counter",
                Histogram<long> or Histogram<double> => "histogram",
                _ => "gauge",
            };
            Adds = instrument is Counter<long> or Counter<double> or UpDownCounter<long> or UpDownCounter<double>;
            var name = SafeName(instrument.Name, colons: true);
            // Text format 0.0.4 names a counter's family by its sample, which ends in _total.
            Name = Type == "counter" && !name.EndsWith("_total", StringComparison.Ordinal) ? name + "_total" : name;
            if (Type == "histogram")
            {
                Buckets = [.. ((instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries ?? DefaultBuckets).Order()];
            }
        }

        public Instrument Instrument { get; }

        public string Name { get; }

        public string Type { get; }

        public double[]? Buckets { get; }

        /// <summary>Counters and up-down counters that are pushed add up; gauges and observed totals replace.</summary>
        public bool Adds { get; }

        public Dictionary<string, Series> Series { get; } = new(StringComparer.Ordinal);

        public void WriteTo(StringBuilder text)
        {
            var help = (Instrument.Description ?? Instrument.Name).Replace(@"\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);
            text.Append("# HELP ").Append(Name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(Name).Append(' ').Append(Type).Append('\n');
            foreach (var (labels, series) in Series.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                if (Buckets is null)
                {
                    Sample(text, Name, labels, series.Value);
                    continue;
                }
                long cumulative = 0;
                for (var i = 0; i < Buckets.Length; i++)
                {
                    cumulative += series.Counts[i];
                    Sample(text, Name + "_bucket", Join(labels, $"le=\"{FormatValue(Buckets[i])}\""), cumulative);
                }
                Sample(text, Name + "_bucket", Join(labels, "le=\"+Inf\""), series.Count);
                Sample(text, Name + "_sum", labels, series.Value);
                Sample(text, Name + "_count", labels, series.Count);
            }
        }

        private static string Join(string labels, string label) => labels.Length == 0 ? label : labels + "," + label;

        private static void Sample(StringBuilder text, string name, string labels, double value)
        {
            text.Append(name);
            if (labels.Length > 0)
            {
                text.Append('{').Append(labels).Append('}');
            }
            text.Append(' ').Append(FormatValue(value)).Append('\n');
        }
    }

    /// <summary>A value (a histogram's sum), and for a histogram the count per bucket, not yet cumulative.</summary>
    private sealed class Series(int buckets)
    {
        public double Value { get; private set; }

        public long Count { get; private set; }

        public long[] Counts { get; } = new long[buckets];

        public void Add(Family family, double value)
        {
            if (family.Buckets is { } bounds)
            {
                var i = Array.FindIndex(bounds, b => value <= b);
                if (i >= 0)
                {
                    Counts[i]++;
                }
                Count++;
                Value += value;
            }
            else
            {
                Value = family.Adds ? Value + value : value;
            }
        }
    }
}
