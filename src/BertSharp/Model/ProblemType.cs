using System.Text.Json.Serialization;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's <c>problem_type</c> of a sequence classifier: which output function and loss its head uses.
/// Serialised under HF's names in <c>config.json</c>.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ProblemType>))]
public enum ProblemType
{
    /// <summary>One class per text: softmax and cross-entropy.</summary>
    [JsonStringEnumMemberName("single_label_classification")] SingleLabelClassification,

    /// <summary>Any set of labels per text: a sigmoid per label and binary cross-entropy.</summary>
    [JsonStringEnumMemberName("multi_label_classification")] MultiLabelClassification,

    /// <summary>A real value per text: the raw output and mean squared error.</summary>
    [JsonStringEnumMemberName("regression")] Regression,
}
