using Xunit.Abstractions;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Tests.IO;

/// <summary>
/// ONNX Runtime running the embedded model.onnx is the independent truth: each layer's output it
/// computes must equal a plain, unoptimised BERT layer computed here from the imported weights
/// and inferred config — which checks the ONNX import (names, transposes, heads, eps) end to end.
/// </summary>
public class OnnxRuntimeEncoderTests(ITestOutputHelper log)
{
    // Two real sentences from the sample data, ids by whole-word lookup in the model's vocab
    // (the data is lower-cased and space-tokenised; WordPiece is tested elsewhere).
    private static BertInput TwoSentences(string model, out int[] lengths)
    {
        var lines = File.ReadLines(TestData.Path("sentence-polarity", "dev.csv")).Skip(1).Take(2)
            .Select(l => l[1..l.LastIndexOf("\",", StringComparison.Ordinal)]).ToArray();
        var vocab = new Dictionary<string, int>();
        using (var reader = new StreamReader(BuiltInModels.OpenVocab(model)))
            for (var (line, i) = (reader.ReadLine(), 0); line is not null; line = reader.ReadLine(), i++) vocab.TryAdd(line, i);
        var ids = lines.Select(s => new[] { vocab["[CLS]"] }
            .Concat(s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(30).Select(w => vocab.GetValueOrDefault(w, vocab["[UNK]"])))
            .Append(vocab["[SEP]"]).ToArray()).ToArray();
        lengths = [.. ids.Select(x => x.Length)];
        return Pad(ids);
    }

    private static BertInput Pad(int[][] sequences)
    {
        int b = sequences.Length, t = sequences.Max(s => s.Length);
        var input = new BertInput(b, t, new int[b * t], new int[b * t], new int[b * t]);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < sequences[i].Length; j++)
            {
                input.InputIds[i * t + j] = sequences[i][j];
                input.AttentionMask[i * t + j] = 1;
            }
        return input;
    }

    [Theory]
    [InlineData("minilm-l6")]
    [InlineData("arctic-xs")]
    public void EveryLayerMatchesAPlainBertComputedFromTheImportedWeights(string name)
    {
        var model = PretrainedModel.Load(name);
        var input = TwoSentences(name, out _);
        using var ort = new OnnxRuntimeEncoder(name, threads: 2, hiddenStates: true);
        var output = ort.RunAll(input);
        var c = model.Config;
        Assert.Equal(c.NumHiddenLayers + 1, output.HiddenStates!.Count);

        var embeddings = PlainBert.Embeddings(model.Weights, c, input);
        Assert.True(MaxAbsDiff(embeddings, output.HiddenStates[0].Data) <= 1e-5, $"embeddings differ by {MaxAbsDiff(embeddings, output.HiddenStates[0].Data)}");
        for (int layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            // Each layer from ORT's own input to it, so a difference points at one layer's weights.
            var ours = PlainBert.Layer(model.Weights, c, layer, output.HiddenStates[layer].Data, input);
            var diff = MaxAbsDiff(ours, output.HiddenStates[layer + 1].Data);
            log.WriteLine($"{name} layer {layer}: max abs difference {diff:E2}");
            Assert.True(diff <= 1e-5, $"{name} layer {layer} differs from ONNX Runtime by {diff}");
        }
        Assert.Equal(output.HiddenStates[^1].Data, output.LastHiddenState.Data);

        if (model.Weights.ContainsKey("bert.pooler.dense.weight"))
        {
            Assert.True(ort.HasPooler);
            var pooled = PlainBert.Pooler(model.Weights, c, output.LastHiddenState.Data, input);
            Assert.True(MaxAbsDiff(pooled, output.PoolerOutput!.Data) <= 1e-5);
        }
    }

    [Fact]
    public void OutputHasBatchSequenceHiddenShapeAndIsDeterministic()
    {
        var input = TwoSentences("minilm-l6", out _);
        using var ort = new OnnxRuntimeEncoder("minilm-l6", threads: 2);
        var first = ort.Run(input);
        var second = ort.Run(input);
        Assert.Equal([2, input.SequenceLength, 384], first.Shape);
        Assert.Equal(first.Data, second.Data);
        Assert.All(first.Data, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokens()
    {
        var batch = TwoSentences("minilm-l6", out var lengths);
        using var ort = new OnnxRuntimeEncoder("minilm-l6", threads: 2);
        var padded = ort.Run(batch);
        int h = 384;
        for (int s = 0; s < 2; s++)
        {
            var alone = ort.Run(Pad([batch.InputIds.AsSpan(s * batch.SequenceLength, lengths[s]).ToArray()]));
            var real = padded.Data.AsSpan(s * batch.SequenceLength * h, lengths[s] * h).ToArray();
            Assert.True(MaxAbsDiff(alone.Data, real) <= 1e-5, $"sentence {s}: padding changed real tokens by {MaxAbsDiff(alone.Data, real)}");
        }
        Assert.NotEqual(lengths[0], lengths[1]);
    }

    [Fact]
    public void FileThatIsNotOnnxIsANamedError()
    {
        using var dir = new TempDir();
        var path = dir.File("x.onnx");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF]);
        var e = Assert.Throws<InvalidDataException>(() => new OnnxRuntimeEncoder(path, threads: 1));
        Assert.Contains(path, e.Message);
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }

    /// <summary>BERT written out loop by loop in double precision, straight from modeling_bert.py.</summary>
    private static class PlainBert
    {
        public static float[] Embeddings(StateDict w, BertConfig c, BertInput input)
        {
            int h = c.HiddenSize, t = input.SequenceLength;
            var word = w["bert.embeddings.word_embeddings.weight"].Data;
            var pos = w["bert.embeddings.position_embeddings.weight"].Data;
            var type = w["bert.embeddings.token_type_embeddings.weight"].Data;
            var x = new double[input.BatchSize * t * h];
            for (int r = 0; r < input.BatchSize * t; r++)
                for (int k = 0; k < h; k++)
                    x[r * h + k] = (double)word[input.InputIds[r] * h + k] + pos[r % t * h + k] + type[input.TokenTypeIds[r] * h + k];
            return ToFloat(LayerNorm(x, h, w["bert.embeddings.LayerNorm.weight"], w["bert.embeddings.LayerNorm.bias"], c.LayerNormEps));
        }

        public static float[] Layer(StateDict w, BertConfig c, int layer, float[] input, BertInput batch)
        {
            string p = $"bert.encoder.layer.{layer}.";
            int h = c.HiddenSize, t = batch.SequenceLength, heads = c.NumAttentionHeads, d = c.HeadSize;
            var x = Array.ConvertAll(input, v => (double)v);
            var q = Linear(x, h, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"]);
            var k = Linear(x, h, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"]);
            var v = Linear(x, h, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"]);
            var context = new double[x.Length];
            var scores = new double[t];
            for (int b = 0; b < batch.BatchSize; b++)
                for (int a = 0; a < heads; a++)
                    for (int i = 0; i < t; i++)
                    {
                        double max = double.NegativeInfinity;
                        for (int j = 0; j < t; j++)
                        {
                            double s = 0;
                            for (int e = 0; e < d; e++) s += q[(b * t + i) * h + a * d + e] * k[(b * t + j) * h + a * d + e];
                            scores[j] = batch.AttentionMask[b * t + j] == 1 ? s / Math.Sqrt(d) : double.NegativeInfinity;
                            max = Math.Max(max, scores[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < t; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                        for (int e = 0; e < d; e++)
                        {
                            double acc = 0;
                            for (int j = 0; j < t; j++) acc += scores[j] / sum * v[(b * t + j) * h + a * d + e];
                            context[(b * t + i) * h + a * d + e] = acc;
                        }
                    }
            var attn = Linear(context, h, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"]);
            for (int i = 0; i < attn.Length; i++) attn[i] += x[i];
            attn = LayerNorm(attn, h, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], c.LayerNormEps);
            var inter = Linear(attn, h, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]);
            for (int i = 0; i < inter.Length; i++) inter[i] = 0.5 * inter[i] * (1 + Erf(inter[i] / Math.Sqrt(2)));
            var output = Linear(inter, c.IntermediateSize, w[p + "output.dense.weight"], w[p + "output.dense.bias"]);
            for (int i = 0; i < output.Length; i++) output[i] += attn[i];
            return ToFloat(LayerNorm(output, h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], c.LayerNormEps));
        }

        public static float[] Pooler(StateDict w, BertConfig c, float[] hidden, BertInput batch)
        {
            int h = c.HiddenSize;
            var cls = new double[batch.BatchSize * h];
            for (int b = 0; b < batch.BatchSize; b++)
                for (int k = 0; k < h; k++) cls[b * h + k] = hidden[b * batch.SequenceLength * h + k];
            var y = Linear(cls, h, w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"]);
            return ToFloat(Array.ConvertAll(y, Math.Tanh));
        }

        // y = x Wᵀ + b with HF's [out, in] weight.
        private static double[] Linear(double[] x, int inSize, FloatTensor weight, FloatTensor bias)
        {
            int outSize = weight.Shape[0], rows = x.Length / inSize;
            Assert.Equal(inSize, weight.Shape[1]);
            var y = new double[rows * outSize];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < outSize; o++)
                {
                    double acc = bias.Data[o];
                    for (int i = 0; i < inSize; i++) acc += x[r * inSize + i] * weight.Data[o * inSize + i];
                    y[r * outSize + o] = acc;
                }
            return y;
        }

        private static double[] LayerNorm(double[] x, int h, FloatTensor gamma, FloatTensor beta, double eps)
        {
            var y = new double[x.Length];
            for (int r = 0; r < x.Length / h; r++)
            {
                double mean = 0, variance = 0;
                for (int k = 0; k < h; k++) mean += x[r * h + k];
                mean /= h;
                for (int k = 0; k < h; k++) variance += (x[r * h + k] - mean) * (x[r * h + k] - mean);
                variance /= h;
                for (int k = 0; k < h; k++) y[r * h + k] = (x[r * h + k] - mean) / Math.Sqrt(variance + eps) * gamma.Data[k] + beta.Data[k];
            }
            return y;
        }

        // .NET has no erf: its Taylor series is exact to ~1e-12 for |z| < 2.5; beyond, erfc's continued fraction.
        private static double Erf(double z)
        {
            double a = Math.Abs(z);
            if (a >= 2.5)
            {
                double f = a;
                for (int n = 80; n >= 1; n--) f = a + n / 2.0 / f;
                return Math.Sign(z) * (1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f);
            }
            double sum = 0, term = z;
            for (int n = 0; n < 100 && Math.Abs(term) > 1e-17; n++)
            {
                sum += term / (2 * n + 1);
                term *= -z * z / (n + 1);
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }

        private static float[] ToFloat(double[] x) => Array.ConvertAll(x, v => (float)v);
    }
}
