namespace BertSharp.Inference;

/// <summary>A classified text: the top label, its probability, and every label's probability (highest first).</summary>
public sealed record Prediction(string Label, float Score, IReadOnlyList<KeyValuePair<string, float>> Scores);
