using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.Model;

public class BertModelTests
{
    private static BertConfig MiniLmConfig => new()
    {
        VocabSize = 30522,
        HiddenSize = 384,
        NumHiddenLayers = 6,
        NumAttentionHeads = 12,
        IntermediateSize = 1536,
        MaxPositionEmbeddings = 512,
        TypeVocabSize = 2,
    };

    [Fact]
    public void ParameterCountsMatchTheIssueFigures()
    {
        // Figures from issue 3: minilm-l6 without/with pooler, BERT-base (12 × 768, 30,522 words) with pooler.
        Assert.Equal(22_713_216, BertModel.CreateRandom(MiniLmConfig, seed: 1).ParameterCount);
        Assert.Equal(22_713_216, BertModel.CountParameters(MiniLmConfig, withPooler: true));
        Assert.Equal(22_565_376, BertModel.CountParameters(MiniLmConfig, withPooler: false));
        Assert.Equal(109_482_240, BertModel.CountParameters(new BertConfig(), withPooler: true));
        // The formula counts what the modules build, with and without the pooler.
        var tiny = GradCheck.TinyConfig();
        Assert.Equal(BertModel.CountParameters(tiny, withPooler: false), BertModel.CreateRandom(tiny, 1, addPoolingLayer: false).ParameterCount);
        Assert.Equal(BertModel.CountParameters(tiny, withPooler: true), BertModel.CreateRandom(tiny, 1).ParameterCount);
    }

    [Fact]
    public void StateDictHasExactlyHuggingFaceNames()
    {
        var model = BertModel.CreateRandom(GradCheck.TinyConfig(layers: 1), seed: 1);
        string[] expected =
        [
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.query.bias",
            "encoder.layer.0.attention.self.key.weight", "encoder.layer.0.attention.self.key.bias",
            "encoder.layer.0.attention.self.value.weight", "encoder.layer.0.attention.self.value.bias",
            "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.dense.bias",
            "encoder.layer.0.attention.output.LayerNorm.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
            "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.intermediate.dense.bias",
            "encoder.layer.0.output.dense.weight", "encoder.layer.0.output.dense.bias",
            "encoder.layer.0.output.LayerNorm.weight", "encoder.layer.0.output.LayerNorm.bias",
            "pooler.dense.weight", "pooler.dense.bias",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), model.ToStateDict().Keys.Order(StringComparer.Ordinal));
        Assert.Equal([16, 8], model.ToStateDict()["encoder.layer.0.intermediate.dense.weight"].Shape); // [out, in]
        var decayed = model.Parameters.Where(p => p.ApplyWeightDecay).Select(p => p.Name).ToHashSet();
        Assert.Contains("bert.encoder.layer.0.attention.self.query.weight", decayed);
        Assert.DoesNotContain("bert.encoder.layer.0.attention.self.query.bias", decayed);
        Assert.DoesNotContain("bert.embeddings.LayerNorm.weight", decayed);
    }

    [Fact]
    public void HuggingFaceInitialisation()
    {
        var config = GradCheck.TinyConfig() with { HiddenSize = 64, NumAttentionHeads = 4, VocabSize = 500, InitializerRange = 0.02f };
        var state = BertModel.CreateRandom(config, seed: 3).ToStateDict();
        var word = state["embeddings.word_embeddings.weight"].Data;
        Assert.All(word.AsSpan(0, 64).ToArray(), v => Assert.Equal(0f, v)); // padding row (pad_token_id 0)
        double sumSq = 0;
        for (int i = 64; i < word.Length; i++) sumSq += word[i] * word[i];
        Assert.InRange(Math.Sqrt(sumSq / (word.Length - 64)), 0.019, 0.021);
        Assert.All(state["embeddings.LayerNorm.weight"].Data, v => Assert.Equal(1f, v));
        Assert.All(state["encoder.layer.1.output.dense.bias"].Data, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ForwardMatchesAnFp64Reference(int layers)
    {
        var config = GradCheck.TinyConfig(layers: layers);
        var model = BertModel.CreateRandom(config, seed: 5);
        GradCheck.Randomize(model.Parameters, 6);
        var input = GradCheck.TinyInput();
        var output = model.Forward(input, outputHiddenStates: true, outputAttentions: true);
        var reference = ReferenceBert.Forward(config, model.ToStateDict(), input);
        Assert.Equal([2, 5, 8], output.LastHiddenState.Shape);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 5; t++)
                for (int c = 0; c < 8; c++)
                    Assert.Equal(reference.LastHidden[b, t, c], output.LastHiddenState.Data[(b * 5 + t) * 8 + c], 1e-5);
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 8; c++)
                Assert.Equal(reference.Pooled![b, c], output.PoolerOutput!.Data[b * 8 + c], 1e-5);
        // Inference reuses one activation cache for all layers; each recorded layer output must still be right.
        Assert.Equal(layers + 1, output.HiddenStates!.Count);
        for (int l = 0; l <= layers; l++)
            for (int i = 0; i < 80; i++)
                Assert.Equal(reference.HiddenStates[l][i / 40, i / 8 % 5, i % 8], output.HiddenStates[l].Data[i], 1e-5);
        Assert.Equal(layers, output.Attentions!.Count);
        for (int l = 0; l < layers; l++)
        {
            Assert.Equal([2, 2, 5, 5], output.Attentions[l].Shape);
            for (int i = 0; i < output.Attentions[l].Length; i++)
            {
                int j = i % 5, q = i / 5 % 5, h = i / 25 % 2, b = i / 50;
                Assert.Equal(reference.Attentions[l][b, h, q, j], output.Attentions[l].Data[i], 1e-6);
            }
        }
    }

    [Fact]
    public void OneLayerToyModelMatchesHandComputedValues()
    {
        // hidden 3, one head, intermediate 1; the second position is padding and must not matter.
        var config = new BertConfig
        {
            VocabSize = 3,
            HiddenSize = 3,
            NumHiddenLayers = 1,
            NumAttentionHeads = 1,
            IntermediateSize = 1,
            MaxPositionEmbeddings = 2,
            TypeVocabSize = 1,
        };
        var model = BertModel.CreateRandom(config, seed: 1);
        var w = model.ToStateDict();
        foreach (var t in w.Values) Array.Clear(t.Data);
        void Fill(string name, params float[] v) => v.CopyTo(w[name].Data, 0);
        Fill("embeddings.word_embeddings.weight", 0, 0, 0, 0, 1, 2, 5, -3, 7);
        Fill("embeddings.LayerNorm.weight", 1, 1, 1);
        Fill("encoder.layer.0.attention.self.value.weight", 1, 0, 0, 0, 1, 0, 0, 0, 1);  // V = identity; Q = K = 0
        Fill("encoder.layer.0.attention.output.dense.weight", 1, 0, 0, 0, 1, 0, 0, 0, 1);
        Fill("encoder.layer.0.attention.output.LayerNorm.weight", 1, 1, 1);
        Fill("encoder.layer.0.intermediate.dense.weight", 0, 0, 1);
        Fill("encoder.layer.0.output.dense.weight", 1, 0, 0);
        Fill("encoder.layer.0.output.LayerNorm.weight", 1, 1, 1);
        Fill("pooler.dense.weight", 1, 0, 0, 0, 1, 0, 0, 0, 1);
        var output = model.Forward(new BertInput(1, 2, [1, 2], [0, 0], [1, 0]), outputAttentions: true);

        // Embedding LN of (0, 1, 2): mean 1, variance 2/3 → (−s, 0, s) with s = √1.5.
        // Q = K = 0 gives equal scores; the padded key is masked, so token 0 attends only to itself:
        // context = V(h0) = h0, attention output = LN(h0 + h0) = h0 = (−s, 0, s).
        // Feed-forward: pre = s, g = GELU(s) = s·Φ(s); output dense (g, 0, 0) + residual → LN(g − s, 0, s).
        double s = Math.Sqrt(1.5);
        double g = s * 0.5 * (1 + 0.7793286380801532 /* erf(s/√2) = erf(0.8660254) */);
        double[] v = [g - s, 0, s];
        double mean = v.Average(), var = v.Select(x => (x - mean) * (x - mean)).Average();
        for (int c = 0; c < 3; c++)
        {
            double expected = (v[c] - mean) / Math.Sqrt(var + 1e-12);
            Assert.Equal(expected, output.LastHiddenState.Data[c], 1e-5);
            Assert.Equal(Math.Tanh(expected), output.PoolerOutput!.Data[c], 1e-5); // pooler dense = identity
        }
        // Both queries (the padded one too) put all their attention on the one real key.
        Assert.Equal([1f, 0f, 1f, 0f], output.Attentions![0].Data);
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokens()
    {
        var config = GradCheck.TinyConfig() with { HiddenSize = 32, NumAttentionHeads = 4, IntermediateSize = 64 };
        var model = BertModel.CreateRandom(config, seed: 8);
        GradCheck.Randomize(model.Parameters, 9);
        int[] ids = [2, 14, 9, 27, 3];
        int[] types = [0, 0, 1, 1, 1];
        var alone = model.Forward(new BertInput(1, 5, ids, types, [1, 1, 1, 1, 1]));
        // The same sentence padded to 9 beside a longer one, with garbage ids in its padding.
        var batch = new BertInput(2, 9,
            [5, 6, 7, 8, 9, 10, 11, 12, 13, .. ids, 17, 0, 25, 1],
            [0, 0, 0, 0, 0, 1, 1, 1, 1, .. types, 0, 1, 0, 1],
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
        var padded = model.Forward(batch);
        for (int t = 0; t < 5; t++)
            for (int c = 0; c < 32; c++)
                Assert.Equal(alone.LastHiddenState.Data[t * 32 + c], padded.LastHiddenState.Data[(9 + t) * 32 + c], 1e-5f);
        for (int c = 0; c < 32; c++)
            Assert.Equal(alone.PoolerOutput!.Data[c], padded.PoolerOutput!.Data[32 + c], 1e-5f);
    }

    [Fact]
    public void LoadsWhatItSavesAndNamesBadTensors()
    {
        var config = GradCheck.TinyConfig();
        var model = BertModel.CreateRandom(config, seed: 10);
        GradCheck.Randomize(model.Parameters, 11);
        var input = GradCheck.TinyInput();
        var state = model.ToStateDict();
        var reloaded = new BertModel(config, state);
        Assert.Equal(model.Forward(input).LastHiddenState.Data, reloaded.Forward(input).LastHiddenState.Data);
        Assert.True(reloaded.HasPooler);

        state.Remove("pooler.dense.weight");
        state.Remove("pooler.dense.bias");
        var noPooler = new BertModel(config, state);
        Assert.False(noPooler.HasPooler);
        Assert.Null(noPooler.Forward(input).PoolerOutput);
        Assert.Equal(BertModel.CountParameters(config, withPooler: false), noPooler.ParameterCount);

        var missing = new StateDict { Source = "weights.safetensors" };
        foreach (var (k, t) in state) if (k != "encoder.layer.1.output.dense.bias") missing[k] = t;
        var e = Assert.Throws<InvalidDataException>(() => new BertModel(config, missing));
        Assert.Contains("weights.safetensors", e.Message);
        Assert.Contains("encoder.layer.1.output.dense.bias", e.Message);

        missing["encoder.layer.1.output.dense.bias"] = new FloatTensor([7]);
        e = Assert.Throws<InvalidDataException>(() => new BertModel(config, missing));
        Assert.Contains("encoder.layer.1.output.dense.bias", e.Message);
        Assert.Contains("[7]", e.Message);

        e = Assert.Throws<InvalidDataException>(() => new BertModel(config with { HiddenAct = "relu" }, state));
        Assert.Contains("relu", e.Message);
    }

    [Fact]
    public void RejectsBadInputWithItsPosition()
    {
        var model = BertModel.CreateRandom(GradCheck.TinyConfig(), seed: 1);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(new BertInput(1, 3, [1, 30, 2], [0, 0, 0], [1, 1, 1])));
        Assert.Contains("input_ids[0, 1] = 30", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Forward(new BertInput(1, 13, new int[13], new int[13], new int[13])));
        Assert.Contains("max_position_embeddings", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.Forward(new BertInput(1, 3, [1, 2, 3], [0, 0], [1, 1, 1])));
        Assert.Contains("token_type_ids", e.Message);
    }

    [Fact]
    public void ConcurrentForwardCallsGiveTheSequentialResults()
    {
        var config = GradCheck.TinyConfig() with { HiddenSize = 16, IntermediateSize = 32 };
        var model = BertModel.CreateRandom(config, seed: 12);
        GradCheck.Randomize(model.Parameters, 13);
        var inputs = Enumerable.Range(0, 24).Select(i =>
        {
            int t = 2 + i % 9;
            var rng = new Random(i);
            return new BertInput(1 + i % 3, t,
                Enumerable.Range(0, (1 + i % 3) * t).Select(_ => rng.Next(1, 30)).ToArray(),
                new int[(1 + i % 3) * t], Enumerable.Repeat(1, (1 + i % 3) * t).ToArray());
        }).ToArray();
        var sequential = inputs.Select(x => model.Forward(x).LastHiddenState.Data).ToArray();
        var concurrent = new float[inputs.Length][];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i => concurrent[i] = model.Forward(inputs[i]).LastHiddenState.Data);
        for (int i = 0; i < inputs.Length; i++) Assert.Equal(sequential[i], concurrent[i]);
    }
}
