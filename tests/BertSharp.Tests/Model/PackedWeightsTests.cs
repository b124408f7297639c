using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.Model;

/// <summary>
/// Inference packs weights once for the GEMM. Whatever changes the weights afterwards must be
/// seen: a model freshly loaded from the changed weights is the truth.
/// </summary>
public class PackedWeightsTests
{
    [Fact]
    public void InferenceAfterTrainingStepsSeesTheUpdatedWeights()
    {
        var config = GradCheck.TinyConfig(0.1f, labels: 3);
        var model = BertForSequenceClassification.CreateRandom(config, new SequenceClassificationOptions { Seed = 3 });
        GradCheck.Randomize(model.Parameters, 4);
        var input = GradCheck.TinyInput();
        var before = model.Logits(input); // packs the weights
        for (int step = 0; step < 2; step++)
        {
            model.ZeroGrad();
            model.TrainStep(input, [2, 1], []);
            // An optimizer writes the tensors directly, as AdamW does.
            foreach (var p in model.Parameters)
                for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] -= 0.5f * p.Grad[i];
        }
        var after = model.Logits(input);
        var fresh = new BertForSequenceClassification(config, model.ToStateDict()).Logits(input);
        Assert.NotEqual(before, after);
        for (int i = 0; i < after.Length; i++) Assert.Equal(fresh[i], after[i], 1e-6);
    }

    [Fact]
    public void InferenceAfterEditingTheStateDictSeesTheEdit()
    {
        var config = GradCheck.TinyConfig();
        var model = BertModel.CreateRandom(config, seed: 5);
        GradCheck.Randomize(model.Parameters, 6);
        var input = GradCheck.TinyInput();
        var before = model.Forward(input).LastHiddenState.Data; // packs the weights
        var state = model.ToStateDict();
        foreach (var name in new[] { "encoder.layer.0.attention.self.key.weight", "encoder.layer.1.intermediate.dense.weight", "pooler.dense.weight" })
            for (int i = 0; i < state[name].Length; i++) state[name].Data[i] *= 1.5f;
        var after = model.Forward(input);
        var fresh = new BertModel(config, state).Forward(input);
        Assert.NotEqual(before, after.LastHiddenState.Data);
        for (int i = 0; i < before.Length; i++) Assert.Equal(fresh.LastHiddenState.Data[i], after.LastHiddenState.Data[i], 1e-6);
        for (int i = 0; i < fresh.PoolerOutput!.Length; i++) Assert.Equal(fresh.PoolerOutput.Data[i], after.PoolerOutput!.Data[i], 1e-6);
    }

    [Theory]
    [InlineData(300, 5, false)]
    [InlineData(300, 5, true)]
    [InlineData(6, 16, false)]
    [InlineData(2, 100, false)]
    [InlineData(1, 150, false)]
    public void PackedFusedInferenceEqualsThePlainPath(int B, int T, bool leftPadded)
    {
        // Each sequence ends in 0–3 padding tokens. 300 × 5: right padding takes the whole-layer blocks of
        // sequences (12 a block), 6 × 16 the short ones (2 a block: too few sequences for two of 4), left
        // padding (holes before a real token) the row-blocked layer tail; 2 × 100 the blocks of query rows
        // (32, 32, 32 and 4 of each sequence), 1 × 150 the longer blocks (64, 64 and 22).
        var config = GradCheck.TinyConfig() with { MaxPositionEmbeddings = 160 };
        var model = BertModel.CreateRandom(config, seed: 7);
        GradCheck.Randomize(model.Parameters, 8);
        var rng = new Random(9);
        var input = new BertInput(B, T, new int[B * T], new int[B * T], new int[B * T]);
        for (int i = 0; i < B * T; i++)
        {
            int real = T - 3 + i / T % 4, t = i % T;
            input.InputIds[i] = rng.Next(1, config.VocabSize);
            input.AttentionMask[i] = (leftPadded ? t >= T - real : t < real) ? 1 : 0;
        }
        var mask = new KeyMask();
        mask.Set(input.AttentionMask, B, T);
        bool whole = LayerTail.WholeLayerWorthwhile(B, T, mask, MatMul.Managed), queries = LayerTail.QueryBlocksWorthwhile(B * T, T, mask, MatMul.Managed);
        Assert.Equal((!leftPadded && T <= 16, T >= 100), (whole, queries));
        Assert.Equal(T == 5, LayerTail.Worthwhile(B * T, MatMul.Managed));
        var packed = model.Forward(input);
        var plain = new BertModel(config, model.ToStateDict());
        plain.MarkWeightsMutable();
        var expected = plain.Forward(input);
        for (int i = 0; i < expected.LastHiddenState.Length; i++) Assert.Equal(expected.LastHiddenState.Data[i], packed.LastHiddenState.Data[i], 1e-5);
        for (int i = 0; i < expected.PoolerOutput!.Length; i++) Assert.Equal(expected.PoolerOutput.Data[i], packed.PoolerOutput!.Data[i], 1e-5);
    }
}
