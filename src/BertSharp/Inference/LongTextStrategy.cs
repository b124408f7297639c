namespace BertSharp.Inference;

/// <summary>What to do with a text longer than the model's maximum length.</summary>
public enum LongTextStrategy
{
    /// <summary>Keep the first tokens (Hugging Face's pipeline default).</summary>
    Truncate,

    /// <summary>Classify overlapping windows and average their probabilities.</summary>
    Chunk,
}
