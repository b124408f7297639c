namespace BertSharp.Evaluation;

/// <summary>Precision, recall, F1 and support of one class, or an average over classes.</summary>
/// <param name="Precision">Of the examples predicted as the class, the share that are (tp / (tp + fp)).</param>
/// <param name="Recall">Of the examples of the class, the share predicted as it (tp / (tp + fn)).</param>
/// <param name="F1">The harmonic mean of precision and recall, computed as 2tp / (2tp + fp + fn).</param>
/// <param name="Support">The number of examples whose true label is the class (for an average: all examples).</param>
public readonly record struct ClassMetrics(double Precision, double Recall, double F1, long Support);
