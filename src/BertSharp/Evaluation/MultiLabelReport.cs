using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BertSharp.Evaluation;

/// <summary>
/// Multi-label classification scores as scikit-learn computes them on indicator matrices: precision, recall
/// and F1 per label, their micro (pooled counts), macro (unweighted mean) and weighted (by support) averages,
/// subset accuracy (every label of a row right) and the Hamming loss (share of wrong label decisions).
/// </summary>
public sealed class MultiLabelReport : IEvaluationReport
{
    private MultiLabelReport(IReadOnlyList<string> labels, IReadOnlyList<ClassMetrics> perLabel, ClassMetrics micro, ClassMetrics macro, ClassMetrics weighted,
        double subsetAccuracy, double hammingLoss, int rows)
    {
        Labels = labels;
        PerLabel = perLabel;
        MicroAverage = micro;
        MacroAverage = macro;
        WeightedAverage = weighted;
        SubsetAccuracy = subsetAccuracy;
        HammingLoss = hammingLoss;
        Rows = rows;
    }

    /// <summary>Scores the predicted label sets against the true ones.</summary>
    /// <param name="yTrue">Row-major [rows × labels] 0/1 indicators of the true labels.</param>
    /// <param name="yPred">The predicted indicators, same shape.</param>
    /// <param name="labels">The label names, one per column.</param>
    /// <exception cref="ArgumentException">The shapes disagree, there are no rows, or a value is not 0 or 1.</exception>
    public static MultiLabelReport Create(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        int k = labels.Count;
        if (k == 0) throw new ArgumentException("no labels");
        if (yTrue.Length != yPred.Length) throw new ArgumentException($"{yTrue.Length} true indicators but {yPred.Length} predicted");
        if (yTrue.Length == 0 || yTrue.Length % k != 0) throw new ArgumentException($"{yTrue.Length} indicators is not a whole number of rows of {k} labels");
        int rows = yTrue.Length / k;
        var tp = new long[k];
        var fp = new long[k];
        var fn = new long[k];
        int exact = 0;
        long wrong = 0;
        for (int r = 0; r < rows; r++)
        {
            bool all = true;
            for (int c = 0; c < k; c++)
            {
                int t = yTrue[r * k + c], p = yPred[r * k + c];
                if ((uint)t > 1 || (uint)p > 1) throw new ArgumentException($"row {r}, label {labels[c]}: indicators must be 0 or 1");
                if (t == 1 && p == 1) tp[c]++;
                else if (p == 1) fp[c]++;
                else if (t == 1) fn[c]++;
                if (t != p) { all = false; wrong++; }
            }
            if (all) exact++;
        }
        var perLabel = new ClassMetrics[k];
        for (int c = 0; c < k; c++) perLabel[c] = Score(tp[c], fp[c], fn[c]);
        var micro = Score(tp.Sum(), fp.Sum(), fn.Sum());
        long support = perLabel.Sum(m => m.Support);
        var macro = new ClassMetrics(perLabel.Average(m => m.Precision), perLabel.Average(m => m.Recall), perLabel.Average(m => m.F1), support);
        double W(Func<ClassMetrics, double> f) => support == 0 ? 0 : perLabel.Sum(m => f(m) * m.Support) / support;
        var weighted = new ClassMetrics(W(m => m.Precision), W(m => m.Recall), W(m => m.F1), support);
        return new MultiLabelReport([.. labels], perLabel, micro, macro, weighted, (double)exact / rows, (double)wrong / (rows * (long)k), rows);
    }

    /// <summary>The label names, in column order.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Precision, recall, F1 and support (true occurrences) of each label, in <see cref="Labels"/> order.</summary>
    public IReadOnlyList<ClassMetrics> PerLabel { get; }

    /// <summary>Scores from the counts pooled over all labels.</summary>
    public ClassMetrics MicroAverage { get; }

    /// <summary>The unweighted mean of the per-label scores.</summary>
    public ClassMetrics MacroAverage { get; }

    /// <summary>The per-label scores weighted by support.</summary>
    public ClassMetrics WeightedAverage { get; }

    /// <summary>The share of rows whose whole label set is right (scikit-learn's accuracy_score on indicators).</summary>
    public double SubsetAccuracy { get; }

    /// <summary>The share of (row, label) decisions that are wrong.</summary>
    public double HammingLoss { get; }

    /// <summary>The number of rows scored.</summary>
    public int Rows { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics => new Dictionary<string, double>
    {
        ["micro_f1"] = MicroAverage.F1,
        ["macro_f1"] = MacroAverage.F1,
        ["micro_precision"] = MicroAverage.Precision,
        ["micro_recall"] = MicroAverage.Recall,
        ["subset_accuracy"] = SubsetAccuracy,
        ["hamming_loss"] = HammingLoss,
    };

    /// <inheritdoc/>
    public string ToText(int digits = 4)
    {
        string F(double v) => v.ToString("F" + digits, CultureInfo.InvariantCulture);
        var rows = Labels.Zip(PerLabel).Append(("micro avg", MicroAverage)).Append(("macro avg", MacroAverage)).Append(("weighted avg", WeightedAverage)).ToList();
        int width = rows.Max(r => r.Item1.Length);
        var sb = new StringBuilder();
        sb.AppendLine($"{"".PadLeft(width)}  {"precision",10}{"recall",10}{"f1-score",10}{"support",10}");
        foreach (var (label, m) in rows)
            sb.AppendLine($"{label.PadLeft(width)}  {F(m.Precision),10}{F(m.Recall),10}{F(m.F1),10}{m.Support,10}");
        sb.AppendLine();
        sb.AppendLine($"subset accuracy {F(SubsetAccuracy)}, Hamming loss {F(HammingLoss)}, {Rows} rows");
        return sb.ToString();
    }

    /// <inheritdoc/>
    public string ToJson(bool indented = true)
    {
        object Row(ClassMetrics m) => new { precision = m.Precision, recall = m.Recall, f1 = m.F1, support = m.Support };
        var doc = new Dictionary<string, object>
        {
            ["problem_type"] = "multi_label_classification",
            ["subset_accuracy"] = SubsetAccuracy,
            ["hamming_loss"] = HammingLoss,
            ["micro_avg"] = Row(MicroAverage),
            ["macro_avg"] = Row(MacroAverage),
            ["weighted_avg"] = Row(WeightedAverage),
            ["per_label"] = Labels.Zip(PerLabel).ToDictionary(p => p.First, p => Row(p.Second)),
            ["rows"] = Rows,
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = indented });
    }

    /// <inheritdoc/>
    public override string ToString() => ToText();

    // scikit-learn's zero_division=0: a ratio with nothing to count is 0.
    private static ClassMetrics Score(long tp, long fp, long fn)
    {
        double p = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        double r = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f = p + r == 0 ? 0 : 2 * p * r / (p + r);
        return new ClassMetrics(p, r, f, tp + fn);
    }
}
