using System.Text.Json.Serialization;

namespace BertSharp.Model;

/// <summary>
/// The shape of a BERT model, with Hugging Face's <c>config.json</c> key names so that a directory
/// saved by BertSharp loads in Python and the other way round.
/// </summary>
public sealed record BertConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("hidden_dropout_prob")] public float HiddenDropoutProb { get; init; } = 0.1f;
    [JsonPropertyName("attention_probs_dropout_prob")] public float AttentionProbsDropoutProb { get; init; } = 0.1f;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("initializer_range")] public float InitializerRange { get; init; } = 0.02f;
    [JsonPropertyName("layer_norm_eps")] public float LayerNormEps { get; init; } = 1e-12f;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("classifier_dropout")] public float? ClassifierDropout { get; init; }
    [JsonPropertyName("problem_type")] public string? ProblemType { get; init; }
    [JsonPropertyName("id2label")] public IReadOnlyDictionary<string, string>? Id2Label { get; init; }
    [JsonPropertyName("label2id")] public IReadOnlyDictionary<string, int>? Label2Id { get; init; }

    /// <summary>Width of one attention head.</summary>
    [JsonIgnore] public int HeadSize => HiddenSize / NumAttentionHeads;
}
