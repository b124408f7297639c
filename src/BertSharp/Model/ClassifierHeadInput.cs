using System.Text.Json.Serialization;

namespace BertSharp.Model;

/// <summary>
/// What the sequence-classification head reads; saved in <c>config.json</c> as <c>classifier_input</c> so a
/// reloaded model reads what it was trained on (Hugging Face ignores the key and reads the pooler).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ClassifierHeadInput>))]
public enum ClassifierHeadInput
{
    /// <summary>
    /// The pooler output tanh(dense([CLS])), as Hugging Face's BertForSequenceClassification does, so a
    /// saved model predicts the same in Python. A pooler missing from the weights is initialised.
    /// </summary>
    [JsonStringEnumMemberName("pooler_output")] PoolerOutput,

    /// <summary>The final hidden state of [CLS] itself: dropout then linear, the pooler unused.</summary>
    [JsonStringEnumMemberName("cls_hidden_state")] ClsHiddenState,
}
