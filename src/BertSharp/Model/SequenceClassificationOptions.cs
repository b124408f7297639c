namespace BertSharp.Model;

/// <summary>How a <see cref="BertForSequenceClassification"/> is built.</summary>
public sealed record SequenceClassificationOptions
{
    /// <summary>Seeds the weights that are initialised (the classifier, a missing pooler) and the dropout masks.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Whether the head reads the pooler output (Hugging Face's default) or the [CLS] hidden state.</summary>
    public ClassifierHeadInput HeadInput { get; init; } = ClassifierHeadInput.PoolerOutput;
}
