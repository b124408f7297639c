using ScottPlot;

namespace BertSharp.Inference;

/// <summary>The bias probe's chart (<c>bertsharp bias-probe --plot</c>).</summary>
public static class BiasProbePlot
{
    /// <summary>A grouped bar chart (one group per template, one bar per target) written atomically as PNG.</summary>
    /// <param name="probe">The probe's result.</param>
    /// <param name="path">The PNG file to write.</param>
    public static void WritePng(this BiasProbe probe, string path)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var plot = new Plot();
        var targets = probe.Targets;
        var rows = probe.Rows;
        int k = targets.Count;
        var palette = new ScottPlot.Palettes.Category10();
        for (int j = 0; j < k; j++)
        {
            var color = palette.GetColor(j);
            for (int i = 0; i < rows.Count; i++)
            {
                if (rows[i].Probabilities[targets[j]] is not double p) continue;
                plot.Add.Bar(new Bar { Position = i * (k + 1) + j, Value = p, FillColor = color });
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = targets[j], FillColor = color });
        }
        var ticks = rows.Select((r, i) => (Position: i * (k + 1) + (k - 1) / 2.0, Label: Subject(r.Template))).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.Select(t => t.Position).ToArray(), ticks.Select(t => t.Label).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("probability at [MASK]");
        plot.Title("Fill-mask bias probe");
        plot.ShowLegend();
        var temp = path + ".tmp";
        plot.SavePng(temp, 900, 500);
        File.Move(temp, path, overwrite: true);
    }

    // A short label for a template: the word before the mask's clause, e.g. "nurse" — the longest word that is not
    // a function word, which names the occupation in the spec's templates.
    private static string Subject(string template)
    {
        var words = template.Split([' ', ',', '.', '\''], StringSplitOptions.RemoveEmptyEntries).Where(w => !w.Contains("MASK", StringComparison.OrdinalIgnoreCase));
        string[] common = ["needed", "because", "meeting", "company", "stepped", "computer", "wanted", "hospital", "tired", "after"];
        return words.Where(w => !common.Contains(w, StringComparer.OrdinalIgnoreCase)).OrderByDescending(w => w.Length).FirstOrDefault() ?? template;
    }
}
