using System.Text;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.IO;

/// <summary>A small random BERT (2 layers × 8) for format tests that need no real weights.</summary>
internal static class TinyModel
{
    public static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "good", "bad", "##s"];

    public static BertConfig Config(int labels = 0) => new()
    {
        VocabSize = Vocab.Length,
        HiddenSize = 8,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        IntermediateSize = 16,
        MaxPositionEmbeddings = 16,
        TypeVocabSize = 2,
        Id2Label = labels > 0 ? Enumerable.Range(0, labels).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), i => $"L{i}") : null,
        Label2Id = labels > 0 ? Enumerable.Range(0, labels).ToDictionary(i => $"L{i}", i => i) : null,
    };

    public static StateDict Weights(BertConfig config, int seed = 1, bool pooler = true)
    {
        var rng = new Random(seed);
        var weights = new StateDict();
        // Names and shapes from the module tree: a random encoder's state dict, its values replaced.
        foreach (var (name, t) in BertModel.CreateRandom(config with { Id2Label = null }, seed, addPoolingLayer: pooler).ToStateDict())
            weights[name] = Random(rng, t.Shape);
        if (config.Id2Label is { Count: > 0 } labels)
        {
            weights["classifier.weight"] = Random(rng, [labels.Count, config.HiddenSize]);
            weights["classifier.bias"] = Random(rng, [labels.Count]);
        }
        return weights.WithCheckpointNames();
    }

    public static PretrainedModel Model(int labels = 0, bool doLowerCase = true) => new()
    {
        Config = Config(labels),
        Weights = Weights(Config(labels)),
        Source = "tiny",
        OpenVocab = () => new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", Vocab) + "\n")),
        DoLowerCase = doLowerCase,
        ModelMaxLength = 16,
    };

    private static FloatTensor Random(Random rng, int[] shape)
    {
        var t = new FloatTensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }
}
