using System.Globalization;
using System.Text;

namespace BertSharp.Evaluation;

/// <summary>
/// Counts of (true label, predicted label) pairs: rows are true labels, columns predicted ones, as
/// scikit-learn's <c>confusion_matrix</c>.
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[] _counts;

    /// <summary>Counts the pairs of true and predicted label ids.</summary>
    /// <param name="yTrue">The true label ids, each in [0, labels.Count).</param>
    /// <param name="yPred">The predicted label ids, as many as <paramref name="yTrue"/>.</param>
    /// <param name="labels">The label names by id.</param>
    /// <exception cref="ArgumentException">The lengths differ or an id is out of range; the message names its index.</exception>
    public ConfusionMatrix(ReadOnlySpan<int> yTrue, ReadOnlySpan<int> yPred, IReadOnlyList<string> labels)
    {
        if (yTrue.Length != yPred.Length)
            throw new ArgumentException($"{yTrue.Length} true labels but {yPred.Length} predictions");
        if (labels.Count == 0)
            throw new ArgumentException("no labels", nameof(labels));
        Labels = labels;
        int k = labels.Count;
        _counts = new long[k * k];
        for (int i = 0; i < yTrue.Length; i++)
        {
            int t = yTrue[i], p = yPred[i];
            if ((uint)t >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(yTrue), t, $"true label id {t} at index {i} is not in [0, {k})");
            if ((uint)p >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(yPred), p, $"predicted label id {p} at index {i} is not in [0, {k})");
            _counts[t * k + p]++;
        }
        Total = yTrue.Length;
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The number of pairs counted.</summary>
    public long Total { get; }

    /// <summary>How many examples of true label <paramref name="trueId"/> were predicted as <paramref name="predictedId"/>.</summary>
    public long this[int trueId, int predictedId] => _counts[trueId * Labels.Count + predictedId];

    /// <summary>The examples whose true label is <paramref name="id"/> (its support).</summary>
    public long TrueCount(int id)
    {
        long sum = 0;
        for (int p = 0; p < Labels.Count; p++) sum += this[id, p];
        return sum;
    }

    /// <summary>The examples predicted as <paramref name="id"/>.</summary>
    public long PredictedCount(int id)
    {
        long sum = 0;
        for (int t = 0; t < Labels.Count; t++) sum += this[t, id];
        return sum;
    }

    /// <summary>The counts as rows of arrays (true label by predicted label).</summary>
    public long[][] ToArray() => [.. Enumerable.Range(0, Labels.Count).Select(t => _counts.AsSpan(t * Labels.Count, Labels.Count).ToArray())];

    /// <summary>The matrix as a table: one row per true label, one column per predicted label.</summary>
    public string ToText()
    {
        var inv = CultureInfo.InvariantCulture;
        const string corner = "true \\ predicted";
        int nameWidth = Math.Max(corner.Length, Labels.Max(l => l.Length));
        int cell = Math.Max(Labels.Max(l => l.Length), _counts.Max().ToString(inv).Length);
        var sb = new StringBuilder(corner.PadRight(nameWidth));
        foreach (string label in Labels)
            sb.Append("  ").Append(label.PadLeft(cell));
        sb.Append('\n');
        for (int t = 0; t < Labels.Count; t++)
        {
            sb.Append(Labels[t].PadRight(nameWidth));
            for (int p = 0; p < Labels.Count; p++)
                sb.Append("  ").Append(this[t, p].ToString(inv).PadLeft(cell));
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
