using System.Globalization;

namespace BertSharp.Data;

/// <summary>Per-class loss weights for imbalanced training data (the spec's "Handling Imbalanced Data").</summary>
public static class ClassWeights
{
    /// <summary>
    /// scikit-learn's <c>compute_class_weight("balanced")</c>: weight_c = n_samples / (n_classes × count_c),
    /// so every class contributes the same total weight to the loss.
    /// </summary>
    /// <param name="labelIds">The training labels as ids of <paramref name="labels"/>.</param>
    /// <param name="labels">The label map.</param>
    /// <exception cref="ArgumentException">A class has no training example (its weight would be infinite), or an id is out of range.</exception>
    public static float[] Balanced(ReadOnlySpan<int> labelIds, LabelMap labels)
    {
        var counts = new long[labels.Count];
        foreach (int id in labelIds)
        {
            if ((uint)id >= (uint)counts.Length)
                throw new ArgumentOutOfRangeException(nameof(labelIds), id, $"label id {id} is not in [0, {counts.Length})");
            counts[id]++;
        }
        var weights = new float[counts.Length];
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] == 0)
                throw new ArgumentException($"class '{labels[c]}' has no training examples, so it has no balanced weight; give explicit weights instead", nameof(labelIds));
            weights[c] = (float)((double)labelIds.Length / (counts.Length * counts[c]));
        }
        return weights;
    }

    /// <summary>
    /// Reads a <c>--class-weights</c> value: "balanced" (see <see cref="Balanced"/>) or one positive
    /// number per label, comma-separated, in label-id order (e.g. "1,3.5").
    /// </summary>
    /// <param name="spec">"balanced" or the comma-separated weights.</param>
    /// <param name="labels">The label map the weights must match.</param>
    /// <param name="labelIds">The training labels as ids, for "balanced".</param>
    /// <exception cref="ArgumentException">The count differs from the number of labels, or a weight is not a positive number.</exception>
    public static float[] Parse(string spec, LabelMap labels, ReadOnlySpan<int> labelIds)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        if (spec.Trim().Equals("balanced", StringComparison.OrdinalIgnoreCase))
            return Balanced(labelIds, labels);
        string[] parts = spec.Split(',');
        string labelList = string.Join(", ", labels.Id2Label.Select((l, i) => $"{i}: {l}"));
        if (parts.Length != labels.Count)
            throw new ArgumentException($"class weights '{spec}' give {parts.Length} values but there are {labels.Count} labels ({labelList}); give one per label, in this order, or 'balanced'");
        var weights = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out weights[i]) || !float.IsFinite(weights[i]) || weights[i] <= 0)
                throw new ArgumentException($"class weight '{parts[i].Trim()}' for label '{labels[i]}' is not a positive number");
        }
        return weights;
    }
}
