using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tensors.Native;
using BertSharp.Tests.Tensors;
using Xunit.Abstractions;

namespace BertSharp.Tests.Parity;

/// <summary>
/// The bf16 provider against ONNX Runtime's fp32 run of the same embedded model.onnx: bf16 keeps
/// about three significant digits per operand, so hidden states agree by direction (cosine) and to
/// a few hundredths, not to fp32's 1e-6; fine-tuning with it is tested against fp32 gradients.
/// </summary>
public class Bf16ParityTests(ITestOutputHelper log)
{
    [SkippableTheory]
    [InlineData("minilm-l6", 24)]
    [InlineData("arctic-xs", 24)]
    [InlineData("minilm-l6", 64)]   // enough rows for inference's row-blocked layer tail
    public void HiddenStatesFollowOnnxRuntimeFp32(string name, int sentences)
    {
        OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load(name);
        var model = new BertModel(pretrained.Config, pretrained.Weights) { Provider = ComputeProvider.OneDnnBf16 };
        var vocab = PolaritySentences.Vocab(name);
        var ids = PolaritySentences.Texts(sentences).Select(s => PolaritySentences.Ids(vocab, s, 48)).ToArray();
        var input = PolaritySentences.Pad(ids);
        using var ort = new OnnxRuntimeEncoder(name, threads: 2);
        var expected = ort.RunAll(input);
        var ours = model.Forward(input);
        int h = pretrained.Config.HiddenSize, t = input.SequenceLength;
        double worstCosine = 1, worstAbs = 0;
        for (int b = 0; b < ids.Length; b++)
            for (int i = 0; i < ids[b].Length; i++)
            {
                var e = expected.LastHiddenState.Data.AsSpan((b * t + i) * h, h);
                var o = ours.LastHiddenState.Data.AsSpan((b * t + i) * h, h);
                worstCosine = Math.Min(worstCosine, Cosine(e, o));
                for (int j = 0; j < h; j++) worstAbs = Math.Max(worstAbs, Math.Abs(e[j] - o[j]));
            }
        log.WriteLine($"{name}, {sentences} sentences, bf16: worst token cosine {worstCosine:F5}, max |Δ| {worstAbs:F4}");
        Assert.True(worstCosine >= 0.995, $"{name}: a token's hidden state has cosine {worstCosine} with ONNX Runtime's");
        Assert.True(worstAbs <= 0.25, $"{name}: hidden states differ from ONNX Runtime's by up to {worstAbs}");
        if (model.HasPooler)
        {
            double pooled = Cosine(expected.PoolerOutput!.Data, ours.PoolerOutput!.Data);
            log.WriteLine($"{name}: pooler cosine {pooled:F5}");
            Assert.True(pooled >= 0.999, $"{name}: pooler output cosine {pooled}");
        }
    }

    [SkippableFact]
    public void Bf16GradientsFollowFp32Gradients()
    {
        OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load("minilm-l6");
        var (input, labels) = LabelledBatch();
        var options = new SequenceClassificationOptions { Seed = 7 };
        var config = pretrained.Config with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 };
        var fp32 = new BertForSequenceClassification(config, pretrained.Weights, options);
        var bf16 = new BertForSequenceClassification(config, pretrained.Weights, options) { Provider = ComputeProvider.OneDnnBf16 };
        float lossFp32 = fp32.TrainStep(input, labels, []);
        float lossBf16 = bf16.TrainStep(input, labels, []);
        log.WriteLine($"loss fp32 {lossFp32:F5}, bf16 {lossBf16:F5}");
        Assert.True(Math.Abs(lossFp32 - lossBf16) <= 0.01 * Math.Abs(lossFp32) + 1e-3, $"loss {lossBf16} in bf16, {lossFp32} in fp32");
        double worst = 1;
        string worstName = "";
        for (int i = 0; i < fp32.Parameters.Count; i++)
        {
            var g32 = fp32.Parameters[i].Grad;
            // A key bias shifts all of a query's scores alike, which softmax ignores: its true gradient
            // is zero and what fp32 computes there is rounding noise, nothing bf16 should follow.
            if (fp32.Parameters[i].Name.EndsWith("attention.self.key.bias", StringComparison.Ordinal)) continue;
            double c = Cosine(g32, bf16.Parameters[i].Grad);
            if (c < worst) (worst, worstName) = (c, fp32.Parameters[i].Name);
        }
        log.WriteLine($"worst gradient cosine {worst:F5} ({worstName})");
        Assert.True(worst >= 0.999, $"{worstName}: bf16 gradient has cosine {worst} with the fp32 gradient");
    }

    [SkippableFact]
    public void Bf16TrainingIsDeterministicAndLearns()
    {
        OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load("minilm-l6");
        var (input, labels) = LabelledBatch();
        float[] Losses()
        {
            var model = new BertForSequenceClassification(pretrained.Config, pretrained.Weights, new SequenceClassificationOptions { Seed = 3 })
            {
                Provider = ComputeProvider.OneDnnBf16,
            };
            var optimizer = new BertSharp.Training.AdamW(model.Parameters, 0.9f, 0.999f, 1e-8f, 0.01f);
            var losses = new float[8];
            for (int step = 0; step < losses.Length; step++)
            {
                losses[step] = model.TrainStep(input, labels, []);
                optimizer.Step(1e-4f);
                model.ZeroGrad();
            }
            return losses;
        }
        var first = Losses();
        log.WriteLine("losses: " + string.Join(", ", first.Select(l => l.ToString("F4"))));
        Assert.Equal(first, Losses());
        Assert.True(first[^1] < 0.7 * first[0], $"eight steps on one batch took the loss from {first[0]} to {first[^1]}");
    }

    [SkippableFact]
    public void TheBlockedInferenceLayerFollowsThePerOperationPass()
    {
        // Prepared weights take inference's blocked layer (whole sequences per block, GELU fused into
        // the product); mutable ones the per-operation pass that training's forward uses. Both round
        // to bf16, but not at the same points, so they agree as bf16 results do, not bit for bit.
        OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load("minilm-l6");
        var vocab = PolaritySentences.Vocab("minilm-l6");
        var prepared = new BertModel(pretrained.Config, pretrained.Weights) { Provider = ComputeProvider.OneDnnBf16 };
        var perCall = new BertModel(pretrained.Config, pretrained.Weights) { Provider = ComputeProvider.OneDnnBf16 };
        perCall.MarkWeightsMutable();
        // 64 × 48: blocks of five sequences (240 rows); 8 × 32 tokens: too few sequences for those, blocks of two (64 rows)
        // where the CPU has no AMX.
        foreach (var (batch, tokens) in new[] { (64, 48), (8, 32) })
        {
            var ids = PolaritySentences.Texts(batch).Select(s => PolaritySentences.Ids(vocab, s, tokens)).ToArray();
            var input = PolaritySentences.Pad(ids, tokens);
            var mask = new KeyMask();
            mask.Set(input.AttentionMask, batch, tokens);
            // On two threads (CI) both shapes take the blocked layer; more threads want more sequences.
            if (Gemm.MaxThreads <= 2 && OneDnnMatMul.Instance is { UsesAmx: false } native)
                Assert.True(LayerTail.WholeLayerWorthwhile(batch, tokens, mask, native), $"{batch} × {tokens} takes the per-operation pass");
            var a = prepared.Forward(input).LastHiddenState.Data;
            var b = perCall.Forward(input).LastHiddenState.Data;
            int h = pretrained.Config.HiddenSize, t = input.SequenceLength;
            double worst = 1;
            for (int s = 0; s < ids.Length; s++)
                for (int i = 0; i < ids[s].Length; i++)
                    worst = Math.Min(worst, Cosine(a.AsSpan((s * t + i) * h, h), b.AsSpan((s * t + i) * h, h)));
            log.WriteLine($"{batch} × {tokens}: blocked vs per-operation pass: worst token cosine {worst:F6}");
            Assert.True(worst >= 0.9999, $"{batch} × {tokens}: a token's hidden state has cosine {worst} between the two passes");
        }
    }

    // 16 real sentences of up to 40 tokens, labels alternating.
    private static (BertInput Input, int[] Labels) LabelledBatch()
    {
        var vocab = PolaritySentences.Vocab("minilm-l6");
        var ids = PolaritySentences.Texts(16).Select(s => PolaritySentences.Ids(vocab, s, 40)).ToArray();
        return (PolaritySentences.Pad(ids), [.. Enumerable.Range(0, ids.Length).Select(i => i % 2)]);
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 && nb == 0 ? 1 : dot / Math.Sqrt(na * nb);
    }
}
