namespace BertSharp.Model;

/// <summary>What the sequence-classification head reads.</summary>
public enum ClassifierHeadInput
{
    /// <summary>
    /// The pooler output tanh(dense([CLS])), as Hugging Face's BertForSequenceClassification does, so a
    /// saved model predicts the same in Python. A pooler missing from the weights is initialised.
    /// </summary>
    PoolerOutput,

    /// <summary>The final hidden state of [CLS] itself: dropout then linear, the pooler unused.</summary>
    ClsHiddenState,
}
