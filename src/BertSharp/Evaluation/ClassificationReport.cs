using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BertSharp.Evaluation;

/// <summary>
/// Accuracy, per-class precision/recall/F1/support, their macro and support-weighted averages and
/// the confusion matrix, as scikit-learn's <c>classification_report</c> computes them for every
/// label of the map (labels absent from both true and predicted ids included, with support 0).
/// </summary>
public sealed class ClassificationReport : IEvaluationReport
{
    private const string WeightedAvg = "weighted avg";
    private const string MacroAvg = "macro avg";

    // Scores were given, so the JSON says "roc_auc": null when it came out undefined rather than leaving it out.
    private readonly bool _rocAucAsked;

    private ClassificationReport(ConfusionMatrix matrix, ClassMetrics[] perClass, double accuracy, ClassMetrics macro, ClassMetrics weighted, double? rocAuc, bool rocAucAsked)
    {
        _rocAucAsked = rocAucAsked;
        ConfusionMatrix = matrix;
        PerClass = perClass;
        Accuracy = accuracy;
        MacroAverage = macro;
        WeightedAverage = weighted;
        RocAuc = rocAuc;
    }

    /// <summary>Scores predictions against true labels.</summary>
    /// <param name="yTrue">The true label ids.</param>
    /// <param name="yPred">The predicted label ids.</param>
    /// <param name="labels">The label names by id (a <see cref="Data.LabelMap"/>'s <c>Id2Label</c>).</param>
    /// <param name="positiveScores">
    /// For two labels, optionally the score of label 1 per example, to add ROC-AUC; empty to leave it out.
    /// </param>
    /// <param name="zeroDivision">
    /// The value of a precision, recall or F1 whose denominator is zero (a class never predicted, or
    /// never present): 0 as scikit-learn's default, or 1, or <see cref="double.NaN"/>.
    /// </param>
    /// <exception cref="ArgumentException">The inputs are empty, differ in length, or hold an id out of range.</exception>
    public static ClassificationReport Create(
        ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, IReadOnlyList<string> labels,
        ReadOnlySpan<double> positiveScores = default, double zeroDivision = 0)
    {
        if (yTrue.IsEmpty)
            throw new ArgumentException("no examples to score", nameof(yTrue));
        var matrix = new ConfusionMatrix(yTrue, yPred, labels);
        int k = labels.Count;
        var perClass = new ClassMetrics[k];
        long correct = 0, total = yTrue.Length;
        for (int c = 0; c < k; c++)
        {
            long tp = matrix[c, c];
            long predicted = matrix.PredictedCount(c);
            long support = matrix.TrueCount(c);
            long fp = predicted - tp, fn = support - tp;
            perClass[c] = new ClassMetrics(
                Ratio(tp, predicted, zeroDivision),
                Ratio(tp, support, zeroDivision),
                Ratio(2 * tp, 2 * tp + fp + fn, zeroDivision),
                support);
            correct += tp;
        }
        double? auc = null;
        if (!positiveScores.IsEmpty)
        {
            if (k != 2)
                throw new ArgumentException($"ROC-AUC here is for two labels; there are {k}", nameof(positiveScores));
            // With one class present ROC-AUC is undefined (scikit-learn warns and gives NaN): an
            // evaluation set that happens to hold one class must not fail an evaluation or a run.
            auc = HasBothClasses(yTrue) ? Evaluation.Metrics.RocAuc(yTrue, positiveScores) : null;
        }
        return new ClassificationReport(
            matrix, perClass, (double)correct / total,
            Average(perClass, weighted: false, total),
            Average(perClass, weighted: true, total),
            auc, rocAucAsked: !positiveScores.IsEmpty);
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels => ConfusionMatrix.Labels;

    /// <summary>The share of correct predictions.</summary>
    public double Accuracy { get; }

    /// <summary>The metrics of each label, by id.</summary>
    public IReadOnlyList<ClassMetrics> PerClass { get; }

    /// <summary>The unweighted mean of the per-class metrics ("macro avg").</summary>
    public ClassMetrics MacroAverage { get; }

    /// <summary>The per-class metrics averaged with their supports as weights ("weighted avg").</summary>
    public ClassMetrics WeightedAverage { get; }

    /// <summary>
    /// The area under the ROC curve, when scores of label 1 were given (two labels only); null also
    /// when the true labels hold one class only, where it is undefined.
    /// </summary>
    public double? RocAuc { get; }

    /// <summary>The counts of true by predicted labels.</summary>
    public ConfusionMatrix ConfusionMatrix { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics
    {
        get
        {
            var m = new Dictionary<string, double>
            {
                ["accuracy"] = Accuracy,
                ["f1"] = MacroAverage.F1,
                ["precision"] = MacroAverage.Precision,
                ["recall"] = MacroAverage.Recall,
                ["f1_weighted"] = WeightedAverage.F1,
            };
            if (RocAuc is double auc) m["roc_auc"] = auc;
            return m;
        }
    }

    /// <summary>
    /// The report in scikit-learn's <c>classification_report</c> layout: a row per label, then
    /// accuracy, macro avg and weighted avg, values with <paramref name="digits"/> decimals (rounded
    /// half to even, as Python formats them).
    /// </summary>
    public string ToText(int digits = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(digits);
        int width = Math.Max(Math.Max(Labels.Max(l => l.Length), WeightedAvg.Length), digits);
        var sb = new StringBuilder();
        sb.Append(new string(' ', width)).Append(' ');
        foreach (string h in (string[])["precision", "recall", "f1-score", "support"])
            sb.Append(' ').Append(h.PadLeft(9));
        sb.Append("\n\n");
        for (int c = 0; c < Labels.Count; c++)
            Row(sb, Labels[c], PerClass[c], width, digits);
        sb.Append('\n');
        sb.Append("accuracy".PadLeft(width)).Append(' ')
          .Append(' ', 20).Append(' ').Append(Format(Accuracy, digits).PadLeft(9))
          .Append(' ').Append(ConfusionMatrix.Total.ToString(CultureInfo.InvariantCulture).PadLeft(9)).Append('\n');
        Row(sb, MacroAvg, MacroAverage, width, digits);
        Row(sb, WeightedAvg, WeightedAverage, width, digits);
        return sb.ToString();
    }

    /// <summary>
    /// The report as JSON with the keys of scikit-learn's <c>output_dict</c> (each label and
    /// "macro avg"/"weighted avg" → precision, recall, f1-score, support; "accuracy"), plus
    /// "confusion_matrix" (labels and rows of counts) and "roc_auc" when known.
    /// </summary>
    public string ToJson(bool indented = true)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            for (int c = 0; c < Labels.Count; c++)
                WriteMetrics(w, Labels[c], PerClass[c]);
            WriteNumber(w, "accuracy", Accuracy);
            WriteMetrics(w, MacroAvg, MacroAverage);
            WriteMetrics(w, WeightedAvg, WeightedAverage);
            if (RocAuc is double auc)
                WriteNumber(w, "roc_auc", auc);
            else if (_rocAucAsked)
                w.WriteNull("roc_auc");
            w.WriteStartObject("confusion_matrix");
            w.WriteStartArray("labels");
            foreach (string label in Labels) w.WriteStringValue(label);
            w.WriteEndArray();
            w.WriteStartArray("matrix");
            foreach (var row in ConfusionMatrix.ToArray())
            {
                w.WriteStartArray();
                foreach (long count in row) w.WriteNumberValue(count);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <inheritdoc/>
    public override string ToString() => ToText();

    // Undefined (NaN) metrics are left out of the averages, as scikit-learn does with zero_division=np.nan.
    private static ClassMetrics Average(ClassMetrics[] perClass, bool weighted, long total)
    {
        return new ClassMetrics(Mean(m => m.Precision), Mean(m => m.Recall), Mean(m => m.F1), total);

        double Mean(Func<ClassMetrics, double> metric)
        {
            double sum = 0, weight = 0;
            foreach (var m in perClass)
            {
                double v = metric(m);
                if (double.IsNaN(v)) continue;
                double w = weighted ? m.Support : 1;
                sum += w * v;
                weight += w;
            }
            return weight == 0 ? double.NaN : sum / weight;
        }
    }

    private static bool HasBothClasses(ReadOnlySpan<int> yTrue) => yTrue.Contains(0) && yTrue.Contains(1);

    private static double Ratio(long numerator, long denominator, double zeroDivision) =>
        denominator == 0 ? zeroDivision : (double)numerator / denominator;

    private static void Row(StringBuilder sb, string name, ClassMetrics m, int width, int digits)
    {
        sb.Append(name.PadLeft(width)).Append(' ');
        foreach (double v in (double[])[m.Precision, m.Recall, m.F1])
            sb.Append(' ').Append(Format(v, digits).PadLeft(9));
        sb.Append(' ').Append(m.Support.ToString(CultureInfo.InvariantCulture).PadLeft(9)).Append('\n');
    }

    private static string Format(double value, int digits) =>
        double.IsNaN(value) ? "nan" : Math.Round(value, digits, MidpointRounding.ToEven).ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static void WriteMetrics(Utf8JsonWriter w, string name, ClassMetrics m)
    {
        w.WriteStartObject(name);
        WriteNumber(w, "precision", m.Precision);
        WriteNumber(w, "recall", m.Recall);
        WriteNumber(w, "f1-score", m.F1);
        w.WriteNumber("support", m.Support);
        w.WriteEndObject();
    }

    // JSON has no NaN: a metric left undefined by zeroDivision = NaN is written as null.
    private static void WriteNumber(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsNaN(value)) w.WriteNull(name);
        else w.WriteNumber(name, value);
    }
}
