namespace BertSharp.Model;

/// <summary>Mean squared error, PyTorch's MSELoss: the regression head's loss.</summary>
internal static class MeanSquaredError
{
    // predictions p and targets y (n values) → Σ(p − y)² / n; dPredictions, when not empty, gets gradScale · 2(p − y) / n.
    public static float Compute(ReadOnlySpan<float> predictions, ReadOnlySpan<float> targets, Span<float> dPredictions, float gradScale)
    {
        int n = predictions.Length;
        if (targets.Length != n) throw new ArgumentException($"{targets.Length} targets for {n} predictions");
        if (n == 0) return 0f;
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double d = (double)predictions[i] - targets[i];
            if (!double.IsFinite(targets[i])) throw new ArgumentException($"target {targets[i]} at position {i} is not a finite number");
            loss += d * d;
            if (!dPredictions.IsEmpty) dPredictions[i] = (float)(gradScale * 2 * d / n);
        }
        return (float)(loss / n);
    }
}
