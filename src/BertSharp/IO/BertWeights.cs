using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// The weights a <see cref="BertConfig"/> implies, with their shapes and the part of the model
/// they belong to: used to check a checkpoint against its config and to count parameters.
/// </summary>
internal static class BertWeights
{
    internal sealed record Expected(string Name, int[] Shape, string Part, bool Optional = false)
    {
        public long Count => Shape.Aggregate(1L, (n, d) => n * d);
    }

    public const string Embeddings = "embeddings", Pooler = "pooler", Classifier = "classifier";

    public static string LayerPart(int i) => $"encoder.layer.{i}";

    /// <summary>Encoder weights (bare names, without "bert.") in HF order; the pooler is optional.</summary>
    public static IEnumerable<Expected> For(BertConfig c)
    {
        int h = c.HiddenSize, f = c.IntermediateSize;
        yield return new("embeddings.word_embeddings.weight", [c.VocabSize, h], Embeddings);
        yield return new("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, h], Embeddings);
        if (c.TypeVocabSize > 0) yield return new("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, h], Embeddings);
        yield return new("embeddings.LayerNorm.weight", [h], Embeddings);
        yield return new("embeddings.LayerNorm.bias", [h], Embeddings);
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            var p = $"encoder.layer.{i}.";
            var part = LayerPart(i);
            foreach (var qkv in new[] { "query", "key", "value" })
            {
                yield return new(p + $"attention.self.{qkv}.weight", [h, h], part);
                yield return new(p + $"attention.self.{qkv}.bias", [h], part);
            }
            yield return new(p + "attention.output.dense.weight", [h, h], part);
            yield return new(p + "attention.output.dense.bias", [h], part);
            yield return new(p + "attention.output.LayerNorm.weight", [h], part);
            yield return new(p + "attention.output.LayerNorm.bias", [h], part);
            yield return new(p + "intermediate.dense.weight", [f, h], part);
            yield return new(p + "intermediate.dense.bias", [f], part);
            yield return new(p + "output.dense.weight", [h, f], part);
            yield return new(p + "output.dense.bias", [h], part);
            yield return new(p + "output.LayerNorm.weight", [h], part);
            yield return new(p + "output.LayerNorm.bias", [h], part);
        }
        yield return new("pooler.dense.weight", [h, h], Pooler, Optional: true);
        yield return new("pooler.dense.bias", [h], Pooler, Optional: true);
    }

    /// <summary>
    /// Throws an error naming the source and tensor when a weight the config needs is missing or
    /// has another shape; a sequence-classification head must match hidden size and label count.
    /// </summary>
    public static void Validate(BertConfig config, StateDict weights)
    {
        ValidateConfig(config, weights.Source);
        foreach (var e in For(config))
        {
            if (e.Optional && !weights.ContainsKey(e.Name)) continue;
            weights.Get(e.Name, e.Shape);
        }
        if (weights.TryGetValue("classifier.weight", out var w))
        {
            int labels = config.Id2Label?.Count ?? w.Shape[0];
            weights.Get("classifier.weight", labels, config.HiddenSize);
            weights.Get("classifier.bias", labels);
        }
    }

    /// <summary>
    /// The checks only loading needs: every weight finite (a NaN or infinity makes every answer NaN,
    /// which the model would otherwise serve), and no encoder layer beyond the config's
    /// num_hidden_layers (those weights would silently go unused).
    /// </summary>
    public static void ValidateLoaded(BertConfig config, StateDict weights)
    {
        const string layerPrefix = "encoder.layer.";
        var extra = new SortedSet<int>();
        foreach (var (name, t) in weights)
        {
            int bad = FirstNonFinite(t.Data);
            if (bad >= 0)
                throw new InvalidDataException($"{weights.Source}: tensor '{name}' holds {t.Data[bad]} at element {bad}; the weights are not finite (a diverged training run?)");
            if (name.StartsWith(layerPrefix, StringComparison.Ordinal))
            {
                var rest = name.AsSpan(layerPrefix.Length);
                int dot = rest.IndexOf('.');
                if (dot > 0 && int.TryParse(rest[..dot], out int layer) && layer >= config.NumHiddenLayers) extra.Add(layer);
            }
        }
        if (extra.Count > 0)
            throw new InvalidDataException($"{weights.Source}: holds weights for encoder layer{(extra.Count > 1 ? "s" : "")} {string.Join(", ", extra)} " +
                $"but config.json's num_hidden_layers is {config.NumHiddenLayers}; the config does not match the weights");
    }

    private static int FirstNonFinite(float[] values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    public static void ValidateConfig(BertConfig c, string source)
    {
        void Positive(int v, string key)
        {
            if (v <= 0) throw new InvalidDataException($"{source}: {key} must be positive, not {v}");
        }
        Positive(c.VocabSize, "vocab_size");
        Positive(c.HiddenSize, "hidden_size");
        Positive(c.NumHiddenLayers, "num_hidden_layers");
        Positive(c.NumAttentionHeads, "num_attention_heads");
        Positive(c.IntermediateSize, "intermediate_size");
        Positive(c.MaxPositionEmbeddings, "max_position_embeddings");
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}");
        if (c.Id2Label is { } id2label)
        {
            // Labels are looked up by id 0..n-1: a gap or a stray key would silently rename a class.
            for (int i = 0; i < id2label.Count; i++)
            {
                if (!id2label.ContainsKey(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                    throw new InvalidDataException($"{source}: id2label has {id2label.Count} labels but no id {i} (its ids are {string.Join(", ", id2label.Keys)}); ids must run 0 to {id2label.Count - 1}");
            }
        }
        if (c.ModelType != "bert")
            throw new InvalidDataException($"{source}: model_type '{c.ModelType}' is not supported (only 'bert')");
    }
}
