using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>Finite-difference checks of each op's backward pass, one module at a time.</summary>
public class OpGradientTests
{
    private static WeightBuilder Builder(int seed = 1) => WeightBuilder.Create(null, seed, 0.5f);

    [Fact]
    public void LinearWithStridedInput()
    {
        var wb = Builder();
        var linear = new Linear(wb.Push("dense"), 3, 4);
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(3);
        const int rows = 5, ldx = 7; // the input is strided like the [CLS] rows of a (B,T,C) buffer
        var x = GradCheck.Uniform(rng, (rows - 1) * ldx + 3);
        var r = GradCheck.Uniform(rng, rows * 4);
        double Loss()
        {
            var y = new float[rows * 4];
            linear.Forward(x, ldx, y, rows);
            return GradCheck.Dot(r, y);
        }
        var dx = new float[x.Length];
        linear.Backward(x, ldx, r, dx, ldx, rows, accumulateDx: false);
        GradCheck.Check("x", x, dx, Loss);
        GradCheck.Check("weight", linear.Weight.Value.Data, linear.Weight.Grad, Loss);
        GradCheck.Check("bias", linear.Bias.Value.Data, linear.Bias.Grad, Loss);
    }

    [Fact]
    public void LayerNorm()
    {
        var wb = Builder();
        var norm = new BertSharp.Model.LayerNorm(wb.Push("LayerNorm"), 6, 1e-12f);
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(4);
        const int rows = 3;
        var x = GradCheck.Uniform(rng, rows * 6, 2f);
        var r = GradCheck.Uniform(rng, rows * 6);
        var mean = new float[rows];
        var rstd = new float[rows];
        double Loss()
        {
            var y = new float[rows * 6];
            norm.Forward(x, y, mean, rstd, rows);
            return GradCheck.Dot(r, y);
        }
        Loss();
        var dx = new float[x.Length];
        norm.Backward(r, x, mean, rstd, dx, rows);
        GradCheck.Check("x", x, dx, Loss);
        GradCheck.Check("gamma", norm.Weight.Value.Data, norm.Weight.Grad, Loss);
        GradCheck.Check("beta", norm.Bias.Value.Data, norm.Bias.Grad, Loss);
    }

    [Fact]
    public void IntermediateDenseAndExactGelu()
    {
        var wb = Builder();
        var config = GradCheck.TinyConfig();
        var intermediate = new BertIntermediate(wb.Push("intermediate"), config);
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(5);
        const int n = 4;
        var x = GradCheck.Uniform(rng, n * 8, 2f);
        var r = GradCheck.Uniform(rng, n * 16);
        var cache = new BertIntermediate.Cache();
        double Loss()
        {
            intermediate.Forward(x, cache, n, packed: false, keepDerivative: true);
            return GradCheck.Dot(r, cache.Output.AsSpan(0, n * 16));
        }
        Loss();
        var dx = new float[x.Length];
        intermediate.Backward(x, cache, r, dx, new float[n * 16], n);
        GradCheck.Check("x", x, dx, Loss);
        GradCheck.Check("weight", intermediate.Dense.Weight.Value.Data, intermediate.Dense.Weight.Grad, Loss);
        GradCheck.Check("bias", intermediate.Dense.Bias.Value.Data, intermediate.Dense.Bias.Grad, Loss);
    }

    [Theory]
    [InlineData(0f, false)] // the fused kernel (right padding)
    [InlineData(0.3f, false)] // the fused kernel with dropout: masks fixed by replaying the same key
    [InlineData(0f, true)] // a mask with a hole: the additive mask
    [InlineData(0.3f, true)]
    public void MaskedSoftmaxAttention(float dropout, bool hole)
    {
        var wb = Builder();
        var config = GradCheck.TinyConfig(dropout);
        var attention = new BertSelfAttention(wb.Push("self"), config);
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(6);
        const int B = 2, T = 4, N = B * T, C = 8;
        var x = GradCheck.Uniform(rng, N * C, 1.5f);
        var r = GradCheck.Uniform(rng, N * C);
        // Sequence 1 is right-padded after two tokens; with a hole its key 1 is masked too.
        var mask = new KeyMask();
        mask.Set(hole ? [1, 1, 1, 1, 1, 0, 1, 0] : [1, 1, 1, 1, 1, 1, 0, 0], B, T);
        Assert.Equal(hole, mask.Holes);
        var stream = new DropoutStream(7);
        var cache = new BertSelfAttention.Cache();
        double Loss()
        {
            stream.Position = 0;
            attention.Forward(x, mask, cache, B, T, dropout > 0 ? stream : null, packed: false, keepProbs: true);
            return GradCheck.Dot(r, cache.Context.AsSpan(0, N * C));
        }
        Loss();
        Assert.Equal(dropout > 0, cache.Dropped);
        Assert.Equal(!hole, cache.Fused);
        var dx = new float[N * C];
        attention.Backward(x, cache, mask, r, dx, new BertSelfAttention.Scratch(), B, T);
        GradCheck.Check("x", x, dx, Loss);
        foreach (var linear in new[] { attention.Query, attention.Key, attention.Value })
        {
            GradCheck.Check("weight", linear.Weight.Value.Data, linear.Weight.Grad, Loss);
            GradCheck.Check("bias", linear.Bias.Value.Data, linear.Bias.Grad, Loss);
        }
        // Padded keys get no attention, so real queries' outputs ignore the padded tokens entirely.
        for (int i = 0; i < T; i++)
            for (int h = 0; h < 2; h++)
            {
                Assert.Equal(0f, cache.Probs[((1 * 2 + h) * T + i) * T + (hole ? 1 : 2)]);
                Assert.Equal(0f, cache.Probs[((1 * 2 + h) * T + i) * T + 3]);
            }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.25f)]
    public void DenseDropoutResidualLayerNorm(float dropout)
    {
        var wb = Builder();
        var config = GradCheck.TinyConfig(dropout);
        var output = new BertResidualOutput(wb.Push("output"), config, 16);
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(8);
        const int n = 3;
        var input = GradCheck.Uniform(rng, n * 16);
        var residual = GradCheck.Uniform(rng, n * 8);
        var r = GradCheck.Uniform(rng, n * 8);
        var stream = new DropoutStream(9);
        var cache = new NormalizedSumCache();
        double Loss()
        {
            stream.Position = 0;
            output.Forward(input, residual, cache, n, 1, dropout > 0 ? stream : null, packed: false);
            return GradCheck.Dot(r, cache.Output.AsSpan(0, n * 8));
        }
        Loss();
        var dInput = new float[n * 16];
        var dResidual = new float[n * 8];
        output.Backward(input, cache, r, dInput, dResidual, new float[n * 8], n);
        GradCheck.Check("input", input, dInput, Loss);
        GradCheck.Check("residual", residual, dResidual, Loss);
        GradCheck.Check("dense.weight", output.Dense.Weight.Value.Data, output.Dense.Weight.Grad, Loss);
        GradCheck.Check("LayerNorm.weight", output.Norm.Weight.Value.Data, output.Norm.Weight.Grad, Loss);
    }

    [Fact]
    public void DropoutWithFixedMaskIsLinearInItsInput()
    {
        var rng = new Random(10);
        var x = GradCheck.Uniform(rng, 64);
        var r = GradCheck.Uniform(rng, 64);
        var mask = new float[64];
        double Loss()
        {
            var y = new float[64];
            Dropout.Forward(x, y, mask, 0.4f, key: 12345, offset: 0);
            return GradCheck.Dot(r, y);
        }
        Loss();
        var dx = new float[64];
        Dropout.Backward(r, mask, dx);
        GradCheck.Check("x", x, dx, Loss);
    }

    [Fact]
    public void DropoutKeepsOneMinusPScaledAndReplaysPerKey()
    {
        const int n = 200_000;
        const float p = 0.25f;
        var x = new float[n];
        Array.Fill(x, 1f);
        var mask = new float[n];
        Dropout.ForwardInPlace(x, mask, n, p, key: 42, offset: 0);
        int kept = 0;
        foreach (var v in x)
        {
            if (v != 0) { kept++; Assert.Equal(1f / (1f - p), v); }
        }
        Assert.InRange(kept / (double)n, 0.75 - 0.005, 0.75 + 0.005);
        var again = new float[n];
        Array.Fill(again, 1f);
        Dropout.ForwardInPlace(again, new float[n], n, p, key: 42, offset: 0);
        Assert.Equal(x, again);
        Array.Fill(again, 1f);
        Dropout.ForwardInPlace(again, new float[n], n, p, key: 43, offset: 0);
        Assert.NotEqual(x, again);
    }

    [Fact]
    public void TanhPooler()
    {
        var wb = Builder();
        var pooler = new BertPooler(wb.Push("pooler"), GradCheck.TinyConfig());
        GradCheck.Randomize(wb.Created, 2);
        var rng = new Random(11);
        const int B = 2, T = 3, C = 8;
        var hidden = GradCheck.Uniform(rng, B * T * C);
        var r = GradCheck.Uniform(rng, B * C);
        var pooled = new float[B * C];
        double Loss()
        {
            pooler.Forward(hidden, T * C, pooled, B, packed: false);
            return GradCheck.Dot(r, pooled);
        }
        Loss();
        var dHidden = new float[B * T * C];
        pooler.Backward(hidden, T * C, pooled, (float[])r.Clone(), dHidden, B);
        GradCheck.Check("hidden", hidden, dHidden, Loss); // non-[CLS] rows: both zero
        GradCheck.Check("dense.weight", pooler.Dense.Weight.Value.Data, pooler.Dense.Weight.Grad, Loss);
        GradCheck.Check("dense.bias", pooler.Dense.Bias.Value.Data, pooler.Dense.Bias.Grad, Loss);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.2f)]
    public void EmbeddingGatherAndScatterAdd(float dropout)
    {
        var wb = Builder();
        var config = GradCheck.TinyConfig(dropout);
        var embeddings = new BertEmbeddings(wb.Push("embeddings"), config);
        GradCheck.Randomize(wb.Created, 2);
        var input = GradCheck.TinyInput(); // repeats id 7 and 2: their rows' gradients must add up
        const int N = 10, C = 8;
        var r = GradCheck.Uniform(new Random(12), N * C);
        var stream = new DropoutStream(13);
        var cache = new NormalizedSumCache();
        double Loss()
        {
            stream.Position = 0;
            embeddings.Forward(input, cache, dropout > 0 ? stream : null);
            return GradCheck.Dot(r, cache.Output.AsSpan(0, N * C));
        }
        Loss();
        embeddings.Backward(input, cache, (float[])r.Clone(), new float[N * C]);
        // nn.Embedding(padding_idx=0): the pad row never receives a gradient, though padding positions use it.
        Assert.All(embeddings.Word.Grad.AsSpan(0, C).ToArray(), g => Assert.Equal(0f, g));
        GradCheck.Check("word_embeddings", embeddings.Word.Value.Data, embeddings.Word.Grad, Loss, skip: i => i < C);
        GradCheck.Check("position_embeddings", embeddings.Position.Value.Data, embeddings.Position.Grad, Loss);
        GradCheck.Check("token_type_embeddings", embeddings.TokenType.Value.Data, embeddings.TokenType.Grad, Loss);
        GradCheck.Check("LayerNorm.weight", embeddings.Norm.Weight.Value.Data, embeddings.Norm.Weight.Grad, Loss);
        GradCheck.Check("LayerNorm.bias", embeddings.Norm.Bias.Value.Data, embeddings.Norm.Bias.Grad, Loss);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CrossEntropyGradient(bool weighted)
    {
        var rng = new Random(14);
        const int B = 4, L = 3;
        var logits = GradCheck.Uniform(rng, B * L, 3f);
        int[] labels = [2, 0, 1, 2];
        float[] weights = weighted ? [0.5f, 2f, 1.5f] : [];
        var dLogits = new float[B * L];
        CrossEntropy.Compute(logits, B, L, labels, weights, dLogits, gradScale: 1f);
        GradCheck.Check("logits", logits, dLogits, () => CrossEntropy.Compute(logits, B, L, labels, weights, default, 1f),
            h: 1e-3, atol: 1e-4, rtol: 1e-3);
        // lossScale only scales the gradient
        var scaled = new float[B * L];
        CrossEntropy.Compute(logits, B, L, labels, weights, scaled, gradScale: 0.25f);
        for (int i = 0; i < B * L; i++) Assert.Equal(dLogits[i] * 0.25f, scaled[i], 1e-7f);
    }

    [Fact]
    public void CrossEntropyMatchesHandComputedWeightedMean()
    {
        // row 0: logits (0, 0), label 0 → nll = ln 2, weight 1
        // row 1: logits (0, ln 3), label 1 → p = 3/4, nll = ln(4/3), weight 3
        float[] logits = [0f, 0f, 0f, MathF.Log(3f)];
        double unweighted = (Math.Log(2) + Math.Log(4.0 / 3)) / 2;
        double weighted = (1 * Math.Log(2) + 3 * Math.Log(4.0 / 3)) / (1 + 3);
        Assert.Equal(unweighted, CrossEntropy.Compute(logits, 2, 2, [0, 1], [], default, 1f), 1e-6);
        Assert.Equal(weighted, CrossEntropy.Compute(logits, 2, 2, [0, 1], [1f, 3f], default, 1f), 1e-6);
        var e = Assert.Throws<ArgumentException>(() => CrossEntropy.Compute(logits, 2, 2, [0, 2], [], default, 1f));
        Assert.Contains("label 2", e.Message);
    }
}
