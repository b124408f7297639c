using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace BertSharp.Tests.Server;

/// <summary>
/// Reads Prometheus' text exposition format (version 0.0.4) line by line, as a scraper does: samples are
/// <c>name{label="value",…} number</c>, labels in any order; <c># HELP</c>/<c># TYPE</c> lines are metadata.
/// </summary>
internal static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    [GeneratedRegex("""^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?""")]
    private static partial Regex Label();

    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, $"not a Prometheus sample line: {line}");
            var labels = Label().Matches(m.Groups[2].Value).ToDictionary(l => l.Groups[1].Value, l => Regex.Unescape(l.Groups[2].Value));
            samples.Add(new Sample(m.Groups[1].Value, labels, m.Groups[3].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            }));
        }
        return samples;
    }

    /// <summary>
    /// The value of a series written as <c>name{label="value",…}</c> (labels in any order, each required,
    /// others allowed; <c>le</c> compared as a number), summed over the matching samples; 0 when none exists yet.
    /// </summary>
    public static double Metric(string text, string series)
    {
        int brace = series.IndexOf('{');
        string name = brace < 0 ? series : series[..brace];
        var wanted = brace < 0 ? [] : Label().Matches(series[(brace + 1)..^1]).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
        return Parse(text).Where(s => s.Name == name && wanted.All(w => s.Labels.TryGetValue(w.Key, out var v) && (v == w.Value || (w.Key == "le" && Le(v) == Le(w.Value)))))
            .Sum(s => s.Value);
    }

    private static double Le(string bound) => bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);

    /// <summary>The running total of a counter of the <c>BertSharp.Server</c> meter made by a given meter factory, as a <see cref="MeterListener"/> hears it.</summary>
    public sealed class CounterReader : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _total;

        public CounterReader(IMeterFactory meters, string instrument)
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == "BertSharp.Server" && ReferenceEquals(i.Meter.Scope, meters) && i.Name == instrument) l.EnableMeasurementEvents(i);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }
}
