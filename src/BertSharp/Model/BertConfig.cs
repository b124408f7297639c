using System.Text.Json.Serialization;

namespace BertSharp.Model;

/// <summary>
/// The shape of a BERT model, with Hugging Face's <c>config.json</c> key names so that a directory
/// saved by BertSharp loads in Python and the other way round.
/// </summary>
public sealed record BertConfig
{
    /// <summary>Rows of the word-embedding table (WordPiece vocabulary size).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    /// <summary>Width of every hidden state.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    /// <summary>Number of transformer layers.</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    /// <summary>Attention heads per layer; hidden_size must be a multiple of it.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    /// <summary>Width of each layer's feed-forward inner product.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    /// <summary>The feed-forward activation; BertSharp runs "gelu" (the exact erf form) and refuses any other.</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    /// <summary>Dropout on embeddings and layer outputs in training.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public float HiddenDropoutProb { get; init; } = 0.1f;
    /// <summary>Dropout on attention probabilities in training.</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public float AttentionProbsDropoutProb { get; init; } = 0.1f;
    /// <summary>Rows of the position table: the longest sequence the model reads.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    /// <summary>
    /// How positions enter the model; BertSharp runs "absolute" (a learned row per position, the absent key's meaning) and
    /// refuses the relative kinds, whose attention scores it does not compute.
    /// </summary>
    [JsonPropertyName("position_embedding_type")] public string? PositionEmbeddingType { get; init; }
    /// <summary>Rows of the token-type (segment) table.</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    /// <summary>Standard deviation of the normal initialisation of new weights.</summary>
    [JsonPropertyName("initializer_range")] public float InitializerRange { get; init; } = 0.02f;
    /// <summary>The epsilon added to the variance in every LayerNorm.</summary>
    [JsonPropertyName("layer_norm_eps")] public float LayerNormEps { get; init; } = 1e-12f;
    /// <summary>Id of [PAD], whose embedding row a new model zeroes.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    /// <summary>Always "bert".</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "bert";
    /// <summary>
    /// Whether the masked-LM decoder is the word-embedding matrix (Hugging Face's default, null here); false gives it a
    /// weight of its own, <c>cls.predictions.decoder.weight</c>, loaded and saved under that name.
    /// </summary>
    [JsonPropertyName("tie_word_embeddings")] public bool? TieWordEmbeddings { get; init; }

    /// <summary>The task model this checkpoint is (e.g. BertForSequenceClassification); it picks the head at load.</summary>
    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    /// <summary>Dropout before a classification head; hidden_dropout_prob when null.</summary>
    [JsonPropertyName("classifier_dropout")] public float? ClassifierDropout { get; init; }
    /// <summary>A sequence classifier's problem type; inferred from the label count when null (one label: regression).</summary>
    [JsonPropertyName("problem_type")] public ProblemType? ProblemType { get; init; }

    /// <summary>What a sequence classifier's head reads (BertSharp's key; absent means the pooler, as in Hugging Face).</summary>
    [JsonPropertyName("classifier_input")] public ClassifierHeadInput? ClassifierInput { get; init; }
    /// <summary>Label names by output index (string keys, as Hugging Face writes them).</summary>
    [JsonPropertyName("id2label")] public IReadOnlyDictionary<string, string>? Id2Label { get; init; }
    /// <summary>Output index by label name.</summary>
    [JsonPropertyName("label2id")] public IReadOnlyDictionary<string, int>? Label2Id { get; init; }

    /// <summary>Width of one attention head.</summary>
    [JsonIgnore] public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>
    /// The one check of a config, for every way one arrives (a config.json, an ONNX import, code): throws an
    /// <see cref="InvalidDataException"/> naming <paramref name="source"/> and the first key that cannot work.
    /// Zero layers is allowed (the embeddings alone); a token-type table needs at least one row because every
    /// input has type ids.
    /// </summary>
    internal void Validate(string source)
    {
        void Require(bool ok, string key, object value, string rule)
        {
            if (!ok) throw new InvalidDataException($"{source}: {key} = {value}: {rule}");
        }
        Require(VocabSize > 0, "vocab_size", VocabSize, "must be positive");
        Require(HiddenSize > 0, "hidden_size", HiddenSize, "must be positive");
        Require(NumHiddenLayers >= 0, "num_hidden_layers", NumHiddenLayers, "must be 0 or more");
        Require(NumAttentionHeads > 0, "num_attention_heads", NumAttentionHeads, "must be positive");
        Require(IntermediateSize > 0, "intermediate_size", IntermediateSize, "must be positive");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", MaxPositionEmbeddings, "must be positive");
        Require(TypeVocabSize > 0, "type_vocab_size", TypeVocabSize, "must be positive");
        Require(HiddenSize % NumAttentionHeads == 0, "hidden_size", HiddenSize, $"is not a multiple of num_attention_heads ({NumAttentionHeads})");
        Require(LayerNormEps > 0, "layer_norm_eps", LayerNormEps, "must be positive");
        Require(ModelType == "bert", "model_type", ModelType, "is not supported (only 'bert')");
        // Running another activation or relative positions as if they were these would give wrong outputs without a word.
        Require(HiddenAct == "gelu", "hidden_act", HiddenAct, "is not supported; BertSharp implements BERT's exact (erf) \"gelu\" only");
        Require(PositionEmbeddingType is null or "absolute", "position_embedding_type", PositionEmbeddingType!,
            "is not supported; BertSharp implements \"absolute\" position embeddings only");
        Require(HiddenDropoutProb is >= 0 and < 1, "hidden_dropout_prob", HiddenDropoutProb, "must be in [0, 1)");
        Require(AttentionProbsDropoutProb is >= 0 and < 1, "attention_probs_dropout_prob", AttentionProbsDropoutProb, "must be in [0, 1)");
        Require(ClassifierDropout is null or (>= 0 and < 1), "classifier_dropout", ClassifierDropout ?? 0, "must be in [0, 1)");
        // Labels are looked up by id 0..n-1: a gap or a stray key would silently rename a class.
        if (Id2Label is { } id2label)
        {
            for (int i = 0; i < id2label.Count; i++)
                Require(id2label.ContainsKey(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), "id2label", string.Join(", ", id2label.Keys),
                    $"has {id2label.Count} labels but no id {i}; ids must run 0 to {id2label.Count - 1}");
        }
    }
}
