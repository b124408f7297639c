using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using Xunit.Abstractions;

namespace BertSharp.Tests.Parity;

/// <summary>
/// The managed encoder against ONNX Runtime running the same embedded model.onnx (the reference):
/// real sentences of different lengths in one right-padded batch.
/// </summary>
public class OnnxRuntimeParityTests(ITestOutputHelper log)
{
    // 24 sentences of up to 48 tokens: enough rows for inference's row-blocked layer tail.
    private const int Sentences = 24, MaxTokens = 48;

    [Theory]
    [InlineData("minilm-l6")]
    [InlineData("arctic-xs")]
    public void LastHiddenStateAndPoolerMatchOnnxRuntime(string name)
    {
        var pretrained = PretrainedModel.Load(name);
        var model = new BertModel(pretrained.Config, pretrained.Weights);
        var (input, lengths) = Batch(name);
        Assert.True(lengths.Distinct().Count() > 3, "the batch should mix lengths");
        Assert.Contains(lengths, l => l < input.SequenceLength);

        using var ort = new OnnxRuntimeEncoder(name, threads: 2);
        var expected = ort.RunAll(input);
        var ours = model.Forward(input);
        Assert.Equal(expected.LastHiddenState.Shape, ours.LastHiddenState.Shape);
        int h = pretrained.Config.HiddenSize, t = input.SequenceLength;
        // Real tokens and padded query rows alike (both attend to the real keys only).
        double all = MaxAbsDiff(expected.LastHiddenState.Data, ours.LastHiddenState.Data);
        double real = 0;
        for (int b = 0; b < input.BatchSize; b++)
            real = Math.Max(real, MaxAbsDiff(expected.LastHiddenState.Data.AsSpan(b * t * h, lengths[b] * h), ours.LastHiddenState.Data.AsSpan(b * t * h, lengths[b] * h)));
        log.WriteLine($"{name}: last_hidden_state max |Δ| {real:E2} on real tokens, {all:E2} over all positions");
        Assert.True(real <= 1e-4, $"{name}: real tokens differ from ONNX Runtime by {real}");
        Assert.True(all <= 1e-4, $"{name}: padded positions differ from ONNX Runtime by {all}");

        Assert.Equal(ort.HasPooler, model.HasPooler);
        if (model.HasPooler)
        {
            double pooled = MaxAbsDiff(expected.PoolerOutput!.Data, ours.PoolerOutput!.Data);
            log.WriteLine($"{name}: pooler_output max |Δ| {pooled:E2}");
            Assert.True(pooled <= 1e-4, $"{name}: pooler output differs from ONNX Runtime by {pooled}");
        }
    }

    [Theory]
    [InlineData("minilm-l6")]
    [InlineData("arctic-xs")]
    public void PaddingDoesNotChangeRealTokens(string name)
    {
        var pretrained = PretrainedModel.Load(name);
        var model = new BertModel(pretrained.Config, pretrained.Weights);
        var (input, lengths) = Batch(name);
        var padded = model.Forward(input).LastHiddenState.Data;
        int h = pretrained.Config.HiddenSize, t = input.SequenceLength;
        double worst = 0;
        for (int b = 0; b < input.BatchSize; b++)
        {
            var alone = model.Forward(PolaritySentences.Pad([input.InputIds.AsSpan(b * t, lengths[b]).ToArray()])).LastHiddenState.Data;
            worst = Math.Max(worst, MaxAbsDiff(alone, padded.AsSpan(b * t * h, lengths[b] * h)));
        }
        log.WriteLine($"{name}: padding changes real tokens by at most {worst:E2}");
        Assert.True(worst <= 1e-5, $"{name}: padding changed real tokens by {worst}");
    }

    private static (BertInput Input, int[] Lengths) Batch(string name)
    {
        var vocab = PolaritySentences.Vocab(name);
        var ids = PolaritySentences.Texts(Sentences).Select(s => PolaritySentences.Ids(vocab, s, MaxTokens)).ToArray();
        return (PolaritySentences.Pad(ids), [.. ids.Select(x => x.Length)]);
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
