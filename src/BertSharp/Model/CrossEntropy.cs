namespace BertSharp.Model;

/// <summary>
/// Softmax cross-entropy over rows of logits, weighted as PyTorch's CrossEntropyLoss(weight=w):
/// loss = Σᵢ w[yᵢ]·nllᵢ / Σᵢ w[yᵢ] (the plain mean when there are no weights). Rows whose label is
/// <see cref="BertPreTrainedModel.IgnoreIndex"/> count for nothing, as PyTorch's ignore_index; a batch that
/// ignores every row has loss 0 and no gradient (PyTorch would give NaN).
/// </summary>
internal static class CrossEntropy
{
    // logits (rows, classes) → loss. When dLogits is not empty it receives
    // gradScale · w[yᵢ]/Σw · (softmax(zᵢ) − onehot(yᵢ)).
    public static float Compute(ReadOnlySpan<float> logits, int rows, int classes, ReadOnlySpan<int> labels,
        ReadOnlySpan<float> classWeights, Span<float> dLogits, float gradScale)
    {
        if (labels.Length != rows) throw new ArgumentException($"{labels.Length} labels for a batch of {rows}");
        if (!classWeights.IsEmpty && classWeights.Length != classes)
            throw new ArgumentException($"{classWeights.Length} class weights for {classes} labels");
        double weightSum = 0;
        for (int i = 0; i < rows; i++)
        {
            if (labels[i] == BertPreTrainedModel.IgnoreIndex) continue;
            if ((uint)labels[i] >= (uint)classes) throw new ArgumentException($"label {labels[i]} at batch row {i} is outside [0, {classes})");
            float w = classWeights.IsEmpty ? 1f : classWeights[labels[i]];
            if (!(w >= 0) || float.IsInfinity(w)) throw new ArgumentException($"class weight {w} for label {labels[i]} must be finite and non-negative");
            weightSum += w;
        }
        if (!dLogits.IsEmpty) dLogits[..(rows * classes)].Clear();
        if (weightSum <= 0)
        {
            for (int i = 0; i < rows; i++)
                if (labels[i] != BertPreTrainedModel.IgnoreIndex) throw new ArgumentException("the class weights of this batch's labels sum to zero");
            return 0f;
        }

        double loss = 0;
        for (int i = 0; i < rows; i++)
        {
            if (labels[i] == BertPreTrainedModel.IgnoreIndex) continue;
            var z = logits.Slice(i * classes, classes);
            double max = double.NegativeInfinity;
            foreach (var v in z) max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in z) sum += Math.Exp(v - max);
            double logSum = max + Math.Log(sum);
            int y = labels[i];
            double w = classWeights.IsEmpty ? 1 : classWeights[y];
            loss += w * (logSum - z[y]);
            if (dLogits.IsEmpty) continue;
            double g = gradScale * w / weightSum;
            for (int c = 0; c < classes; c++)
                dLogits[i * classes + c] = (float)(g * (Math.Exp(z[c] - logSum) - (c == y ? 1 : 0)));
        }
        return (float)(loss / weightSum);
    }
}
