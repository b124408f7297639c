namespace BertSharp.Model;

/// <summary>How a <see cref="BertForSequenceClassification"/> is built; what is left null comes from the config.</summary>
public sealed record SequenceClassificationOptions
{
    /// <summary>Seeds the weights that are initialised (the classifier, a missing pooler) and the dropout masks.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>What the head reads; null takes the config's <c>classifier_input</c> (the pooler when absent).</summary>
    public ClassifierHeadInput? HeadInput { get; init; }
}
