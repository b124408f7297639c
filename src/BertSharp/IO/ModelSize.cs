using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// Parameter counts by part and the memory a model needs, by the spec's arithmetic: fp32
/// inference holds the parameters (4 bytes each); training adds gradients and AdamW's two moments
/// (4 × parameters × 4 bytes) plus the activations kept for backward (formula in docs/FORMATS.md).
/// </summary>
internal sealed class ModelSize
{
    /// <summary>Parts in model order: embeddings, encoder.layer.0 … N-1, pooler, then heads.</summary>
    public required IReadOnlyList<(string Part, long Parameters)> Parts { get; init; }

    private const string EmbeddingsPart = "embeddings", PoolerPart = "pooler", ClassifierPart = "classifier";

    public long Embeddings => Sum(p => p == EmbeddingsPart);
    public long Encoder => Sum(p => p.StartsWith("encoder.layer.", StringComparison.Ordinal));
    public long Pooler => Sum(p => p == PoolerPart);
    public long Total => Sum(_ => true);
    public long EmbeddingsAndEncoder => Embeddings + Encoder;
    public long InferenceBytes => Total * sizeof(float);

    private long Sum(Func<string, bool> which) => Parts.Where(p => which(p.Part)).Sum(p => p.Parameters);

    /// <summary>Counts the tensors actually loaded, grouped by the part their name belongs to.</summary>
    public static ModelSize FromWeights(StateDict weights)
    {
        var parts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, t) in weights)
        {
            var part = PartOf(name.StartsWith(StateDict.EncoderPrefix, StringComparison.Ordinal) ? name[StateDict.EncoderPrefix.Length..] : name);
            parts[part] = parts.GetValueOrDefault(part) + t.Length;
        }
        return new ModelSize { Parts = [.. parts.OrderBy(p => Order(p.Key)).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value))] };
    }

    /// <summary>Counts what the config implies: encoder with pooler (as HF's BertModel has), and a classifier when the config has labels.</summary>
    public static ModelSize FromConfig(BertConfig config)
    {
        long h = config.HiddenSize, f = config.IntermediateSize;
        var parts = new List<(string, long)> { (EmbeddingsPart, (config.VocabSize + config.MaxPositionEmbeddings + config.TypeVocabSize) * h + 2 * h) };
        // q, k, v and the attention output (h×h + h each), two LayerNorms (2h each), the feed-forward pair.
        long layer = 4 * (h * h + h) + 4 * h + (h * f + f) + (f * h + h);
        for (int i = 0; i < config.NumHiddenLayers; i++) parts.Add(($"encoder.layer.{i}", layer));
        parts.Add((PoolerPart, h * h + h));
        if (config.Id2Label is { Count: > 0 } labels && config.Architectures?.Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) == true)
            parts.Add((ClassifierPart, (long)labels.Count * h + labels.Count));
        return new ModelSize { Parts = parts };
    }

    private static string PartOf(string name)
    {
        if (name.StartsWith("encoder.layer.", StringComparison.Ordinal))
        {
            int end = name.IndexOf('.', "encoder.layer.".Length);
            return end < 0 ? name : name[..end];
        }
        int dot = name.IndexOf('.');
        return dot < 0 ? name : name[..dot];
    }

    private static (int, int) Order(string part) => part switch
    {
        EmbeddingsPart => (0, 0),
        _ when part.StartsWith("encoder.layer.", StringComparison.Ordinal) && int.TryParse(part["encoder.layer.".Length..], out var i) => (1, i),
        PoolerPart => (2, 0),
        _ => (3, 0),
    };

    /// <summary>
    /// Floats kept for backward at batch B, sequence T (H hidden, I intermediate, A heads), with fp32
    /// dropout masks. Per layer: input, Q, K, V, context, two dropout masks, two LayerNorm inputs and
    /// its output (10·BTH), the intermediate before and after GELU (2·BTI), LayerNorm mean and
    /// rstd (4·BT), attention probabilities and their dropout mask (2·BAT²). Embeddings: the sum
    /// before LayerNorm and a dropout mask (2·BTH + 2·BT); the pooler and a head: 3·BH.
    /// </summary>
    public static long ActivationFloats(BertConfig c, int batch, int sequence)
    {
        long bt = (long)batch * sequence, h = c.HiddenSize, f = c.IntermediateSize, a = c.NumAttentionHeads;
        long perLayer = bt * (10 * h + 2 * f + 4) + 2 * batch * a * sequence * (long)sequence;
        return bt * (2 * h + 2) + c.NumHiddenLayers * perLayer + 3L * batch * h;
    }
}
