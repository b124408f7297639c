namespace BertSharp.Model;

/// <summary>
/// Binary cross-entropy on logits, PyTorch's BCEWithLogitsLoss (mean over every element): the multi-label
/// head's loss, one independent sigmoid per label.
/// </summary>
internal static class BceWithLogits
{
    // logits z and targets y (n values, y in [0, 1]) → mean of max(z,0) − z·y + log(1 + e^−|z|), the form that
    // cannot overflow. When dLogits is not empty it receives gradScale · (σ(z) − y) / n.
    public static float Compute(ReadOnlySpan<float> logits, ReadOnlySpan<float> targets, Span<float> dLogits, float gradScale)
    {
        int n = logits.Length;
        if (targets.Length != n) throw new ArgumentException($"{targets.Length} targets for {n} logits");
        if (n == 0) return 0f;
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double z = logits[i], y = targets[i];
            if (!(y >= 0 && y <= 1)) throw new ArgumentException($"target {y} at position {i} is outside [0, 1]");
            loss += Math.Max(z, 0) - z * y + Math.Log(1 + Math.Exp(-Math.Abs(z)));
            if (!dLogits.IsEmpty) dLogits[i] = (float)(gradScale * (Sigmoid(z) - y) / n);
        }
        return (float)(loss / n);
    }

    public static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}
