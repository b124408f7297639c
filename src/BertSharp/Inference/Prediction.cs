namespace BertSharp.Inference;

/// <summary>
/// A classified text: the top label, its score, and every label's score (highest first) — probabilities for a
/// single-label model, per-label sigmoids for a multi-label one, the value for regression.
/// </summary>
public sealed record Prediction(string Label, float Score, IReadOnlyList<KeyValuePair<string, float>> Scores)
{
    /// <summary>The predicted labels: the top one, or for a multi-label model every label at or above the threshold (possibly none).</summary>
    public IReadOnlyList<string> Labels { get; init; } = [Label];
}
