using BertSharp.Tensors;
using BertSharp.Tensors.Native;

namespace BertSharp.Tests.Tensors;

/// <summary>
/// The bf16 provider's products against a double-precision product of the same bf16-rounded
/// operands: oneDNN accumulates in fp32, so only the summation order may differ. Skipped where
/// oneDNN is not installed (CI installs libdnnl2, so they run there).
/// </summary>
public class OneDnnProviderTests
{
    internal static MatMul Bf16Provider()
    {
        Skip.IfNot(ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16), ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16));
        return MatMul.For(ComputeProvider.OneDnnBf16);
    }

    [Fact]
    public void RoundingIsToNearestEvenAndKeepsNaN()
    {
        Assert.Equal(0x3F80, Bf16.Round(1f));
        Assert.Equal(0xBF80, Bf16.Round(-1f));
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
        Assert.Equal(0x3F80, Bf16.Round(1f + MathF.Pow(2, -8)));
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ (odd) and 1 + 2·2⁻⁷ (even).
        Assert.Equal(0x3F82, Bf16.Round(1f + 3 * MathF.Pow(2, -8)));
        Assert.Equal(0x3F81, Bf16.Round(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20)));
        Assert.Equal(0x7F80, Bf16.Round(float.PositiveInfinity));
        Assert.True(float.IsNaN(Bf16.ToSingle(Bf16.Round(float.NaN))));
        Assert.True(float.IsNaN(Bf16.ToSingle(Bf16.Round(BitConverter.UInt32BitsToSingle(0x7F80_0001)))), "a NaN with a low payload must not round to infinity");
        Assert.Equal(3.140625f, Bf16.ToSingle(Bf16.Round(MathF.PI)));
    }

    [Fact]
    public unsafe void VectorConversionEqualsTheScalarRuleOnAStridedBlock()
    {
        var rng = new Random(3);
        int rows = 300, cols = 333, ld = 340;
        var src = new float[rows * ld];
        for (int i = 0; i < src.Length; i++)
            src[i] = i % 97 == 0 ? BitConverter.UInt32BitsToSingle(0x3F80_8000u + (uint)(i % 3 << 16)) : (float)(rng.NextDouble() * 8 - 4) * MathF.Pow(2, rng.Next(-30, 30));
        src[5] = float.NaN;
        var dst = new ushort[rows * cols];
        fixed (ushort* d = dst) Bf16.Convert(src, rows, cols, ld, d, maxThreads: 2);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                Assert.Equal(Bf16.Round(src[r * ld + c]), dst[r * cols + c]);
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 64, 96, 384 },      // a small Linear
        { 257, 130, 200 },    // odd sizes everywhere
        { 512, 1152, 384 },   // the fused query/key/value projection
    };

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void ProductsMatchADoubleProductOfTheRoundedOperands(int m, int n, int k)
    {
        var provider = Bf16Provider();
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            Check(provider, ta, tb, m, n, k, bias: false, beta: 0, pad: 0);
            Check(provider, ta, tb, m, n, k, bias: true, beta: 1, pad: 5);
        }
    }

    [SkippableFact]
    public void APreparedWeightGivesTheSameProductAsThePlainCall()
    {
        var provider = Bf16Provider();
        int m = 200, n = 384, k = 384;
        var rng = new Random(5);
        var x = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        var plain = new float[m * n];
        var prepared = new float[m * n];
        provider.Multiply(false, true, m, n, k, 1, x, k, w, k, bias, 0, plain, n);
        provider.Multiply(m, x, k, provider.Prepare(w, n, k), bias, prepared, n);
        Assert.Equal(plain, prepared);
        // Too few rows to offload: the managed kernels multiply fp32 x by the rounded weight.
        var few = new float[4 * n];
        provider.Multiply(4, x, k, provider.Prepare(w, n, k), bias, few, n);
        var expected = RoundedProduct(false, true, 4, n, k, x, k, w, k, bias, roundA: false);
        for (int i = 0; i < few.Length; i++) Assert.True(Math.Abs(few[i] - expected[i].Value) <= 1e-5 * (1 + expected[i].Scale), $"few rows [{i}]");
    }

    [SkippableTheory]
    [InlineData(16, 0, 1536)]   // one 16-token query's feed-forward
    [InlineData(16, 768, 384)]  // its query/key/value rows, written into (N, 3C)
    [InlineData(9, 0, 1152)]
    public void AShortInputOnAPreparedWeightRunsOnOneDnnsFastKernelInBf16(int m, int extraColumns, int n)
    {
        var provider = Bf16Provider();
        int k = 384, ldy = n + extraColumns;
        var rng = new Random(m + n);
        var x = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        var y = new float[m * ldy];
        provider.Multiply(m, x, k, provider.Prepare(w, n, k), bias, y, ldy);
        Assert.DoesNotContain("ref", OneDnnMatMul.LastImplementation, StringComparison.Ordinal);
        var expected = RoundedProduct(false, true, m, n, k, x, k, w, k, bias, roundA: true);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                var e = expected[i * n + j];
                Assert.True(Math.Abs(y[i * ldy + j] - e.Value) <= 1e-5 * (1 + e.Scale), $"y[{i},{j}] = {y[i * ldy + j]}, expected {e.Value}");
            }
    }

    [SkippableTheory]
    [InlineData(50, 384)]      // a [CLS]-only last layer's keys for one 50-token sentence, written into (N, 3C) rows
    [InlineData(256, 384)]
    [InlineData(50, 0)]
    [InlineData(300, 384)]     // on two or more cores: row blocks of 256 and 44, each split by columns across the pool
    public void PreparedWeightsNeverFallToOneDnnsReferenceKernel(int m, int extraColumns)
    {
        // oneDNN 2.6 has no fast kernel for its blocked weight layout with some strided outputs; its
        // reference kernel took 150-1,300 ms for products that take 0.1 ms (serving fell to 6 requests/s).
        var provider = Bf16Provider();
        int n = 384, k = 384, ldy = n + extraColumns;
        var rng = new Random(m + extraColumns);
        var x = Random(rng, m * k);
        var w = Random(rng, n * k);
        var bias = Random(rng, n);
        var y = new float[m * ldy];
        provider.Multiply(m, x, k, provider.Prepare(w, n, k), bias, y, ldy);
        Assert.DoesNotContain("ref", OneDnnMatMul.LastImplementation, StringComparison.Ordinal);
        var plain = new float[m * ldy];
        provider.Multiply(false, true, m, n, k, 1, x, k, w, k, bias, 0, plain, ldy);
        Assert.Equal(plain, y);
    }

    [SkippableFact]
    public void LinearBackwardEqualsItsTwoProducts()
    {
        var provider = Bf16Provider();
        int rows = 256, inF = 384, outF = 192;
        var rng = new Random(9);
        var x = Random(rng, rows * inF);
        var dy = Random(rng, rows * outF);
        var w = Random(rng, outF * inF);
        var dW = Random(rng, outF * inF);
        var dx = Random(rng, rows * inF);
        var dWExpected = (float[])dW.Clone();
        var dxExpected = (float[])dx.Clone();
        provider.Multiply(true, false, outF, inF, rows, 1, dy, outF, x, inF, default, 1, dWExpected, inF);
        provider.Multiply(false, false, rows, inF, outF, 1, dy, outF, w, inF, default, 1, dxExpected, inF);
        provider.LinearBackward(rows, inF, outF, x, inF, dy, outF, w, 1, dW, dx, inF, accumulateDx: true);
        Assert.Equal(dWExpected, dW);
        Assert.Equal(dxExpected, dx);
    }

    [SkippableFact]
    public void FeedForwardKeepsItsGeluActivationsInBf16()
    {
        var provider = Bf16Provider();
        int m = 128, k = 128, hidden = 512, n = 128;   // large enough for both products to be offloaded
        var rng = new Random(13);
        var x = Random(rng, m * k);
        var w1 = Random(rng, hidden * k);
        var b1 = Random(rng, hidden);
        var w2 = Random(rng, n * hidden);
        var b2 = Random(rng, n);
        var y = new float[m * n];
        provider.FeedForward(m, x, k, provider.Prepare(w1, hidden, k), b1, provider.Prepare(w2, n, hidden), b2, y, new float[m * hidden]);
        // Reference in double: GELU(erf) of the first product, rounded to bf16 as the second product reads it.
        var up = RoundedProduct(false, true, m, hidden, k, x, k, w1, k, b1);
        var g = new float[m * hidden];
        for (int i = 0; i < g.Length; i++) g[i] = (float)Reference.Gelu(up[i].Value);
        var down = RoundedProduct(false, true, m, n, hidden, g, hidden, w2, hidden, b2);
        for (int i = 0; i < y.Length; i++)
            Assert.True(Math.Abs(y[i] - down[i].Value) <= 2e-3 * down[i].Scale + 1e-4, $"y[{i}] = {y[i]}, expected {down[i].Value}");
    }

    [SkippableTheory]
    [InlineData(3, 40, 4, 16)]    // one product per sequence for all heads
    [InlineData(2, 192, 12, 32)]  // long enough to split the heads into groups of 7 and 5
    [InlineData(2, 16, 2, 8)]     // too short to offload: the managed kernel runs
    [InlineData(1, 64, 12, 32)]   // one padded sequence on a multi-core CPU: its heads split into pieces (6 + 6 on two cores)
    public void SelfAttentionMatchesTheManagedKernelOnRoundedOperands(int batch, int seq, int heads, int headDim)
    {
        var provider = Bf16Provider();
        int c = heads * headDim;
        var rng = new Random(seq);
        var qkv = Random(rng, batch * seq * 3 * c);
        int[] valid = [.. Enumerable.Range(0, batch).Select(b => seq - 7 * b - (b > 1 ? seq / 2 : 0) - (batch == 1 ? 5 : 0))];
        // Padded key and value rows must not matter, whatever they hold.
        for (int b = 0; b < batch; b++)
            for (int t = valid[b]; t < seq; t++)
                for (int j = c; j < 3 * c; j++) qkv[(b * seq + t) * 3 * c + j] = float.NaN;
        var rounded = qkv.Select(v => float.IsNaN(v) ? 0 : Bf16.ToSingle(Bf16.Round(v))).ToArray();
        float scale = 1 / MathF.Sqrt(headDim);
        var want = new float[batch * seq * c];
        Attention.Forward(rounded, rounded.AsSpan(c), rounded.AsSpan(2 * c), 3 * c, want, c, default, batch, seq, heads, headDim, scale, valid);
        var got = new float[batch * seq * c];
        provider.SelfAttention(qkv, got, valid, batch, seq, heads, headDim, scale);
        // The probabilities are rounded to bf16 too (relative 2^-9), and the context sums
        // probability-weighted values of magnitude <= 1.
        for (int i = 0; i < got.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= 4e-3, $"context[{i / c},{i % c}] = {got[i]}, expected {want[i]}");
    }

    [SkippableTheory]
    [InlineData(3, 40, 4, 16, 0f)]
    [InlineData(3, 40, 4, 16, 0.1f)]   // dropout: the mask must be the managed kernel's, in both passes
    [InlineData(2, 192, 12, 32, 0.1f)] // head groups of 7 and 5
    [InlineData(1, 96, 12, 64, 0.1f)]  // BERT-base's head size
    public void TrainingAttentionFollowsTheManagedKernel(int batch, int seq, int heads, int headDim, float dropout)
    {
        var provider = Bf16Provider();
        int c = heads * headDim, n = batch * seq;
        var rng = new Random(seq + (int)(dropout * 100));
        var qkv = Random(rng, n * 3 * c);
        var dContext = Random(rng, n * c);
        int[] valid = [.. Enumerable.Range(0, batch).Select(b => seq - 9 * b)];
        float scale = 1 / MathF.Sqrt(headDim);
        const ulong key = 1234;
        var rounded = qkv.Select(v => Bf16.ToSingle(Bf16.Round(v))).ToArray();
        var wantContext = new float[n * c];
        var wantProbs = new float[batch * heads * seq * seq];
        MatMul.Managed.SelfAttention(rounded, wantContext, valid, batch, seq, heads, headDim, scale, wantProbs, dropout, key);
        var context = new float[n * c];
        var probs = new float[wantProbs.Length];
        provider.SelfAttention(qkv, context, valid, batch, seq, heads, headDim, scale, probs, dropout, key);
        // Probabilities in fp32 from bf16 scores' operands; the context from bf16 (P ⊙ M) and v.
        for (int i = 0; i < probs.Length; i++)
            Assert.True(Math.Abs(probs[i] - wantProbs[i]) <= 1e-4 + 1e-3 * wantProbs[i], $"P[{i}] = {probs[i]}, expected {wantProbs[i]}");
        AssertClose(wantContext, context, 1e-2, "context");

        var wantGrad = new float[n * 3 * c];
        MatMul.Managed.SelfAttentionBackward(rounded, wantProbs, dContext, wantGrad, valid, batch, seq, heads, headDim, scale, dropout, key);
        var grad = new float[n * 3 * c];
        Array.Fill(grad, float.NaN);   // every element must be written
        provider.SelfAttentionBackward(qkv, probs, dContext, grad, valid, batch, seq, heads, headDim, scale, dropout, key);
        AssertClose(wantGrad, grad, 2e-2, "dQKV");
        for (int b = 0; b < batch; b++)
            for (int t = valid[b]; t < seq; t++)
                for (int j = c; j < 3 * c; j++) Assert.Equal(0f, grad[(b * seq + t) * 3 * c + j]);   // padded keys and values
    }

    // |got − want| within tolerance × the largest |want|, elementwise (bf16 operands: relative 2^-9 each).
    private static void AssertClose(float[] want, float[] got, double tolerance, string name)
    {
        double scale = want.Max(Math.Abs);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= tolerance * scale, $"{name}[{i}] = {got[i]}, expected {want[i]} (scale {scale})");
    }

    [SkippableFact]
    public void ConcurrentCallsOfOneShapeGiveTheSameResultsAsSerialOnes()
    {
        // oneDNN 2.6 corrupts results when two threads execute one primitive object at once; the
        // provider must give each concurrent caller its own.
        var provider = Bf16Provider();
        int m = 256, n = 384, k = 384, calls = 8;
        var rng = new Random(5);
        var w = provider.Prepare(Random(rng, n * k), n, k);
        var inputs = Enumerable.Range(0, calls).Select(_ => Random(rng, m * k)).ToArray();
        var serial = inputs.Select(x =>
        {
            var y = new float[m * n];
            provider.Multiply(m, x, k, w, default, y, n);
            return y;
        }).ToArray();
        for (int round = 0; round < 5; round++)
        {
            var parallel = new float[calls][];
            using var start = new Barrier(calls);
            var threads = Enumerable.Range(0, calls).Select(i => new Thread(() =>
            {
                var y = new float[m * n];
                start.SignalAndWait();
                for (int r = 0; r < 4; r++) provider.Multiply(m, inputs[i], k, w, default, y, n);
                parallel[i] = y;
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            for (int i = 0; i < calls; i++) Assert.Equal(serial[i], parallel[i]);
        }
    }

    [SkippableFact]
    public void ReportsAndUsesAmxWhereTheCpuHasIt()
    {
        var provider = Bf16Provider();
        bool amx = File.ReadAllText("/proc/cpuinfo").Contains(" amx_bf16", StringComparison.Ordinal);
        Assert.Equal(amx ? "onednn-bf16-amx" : "onednn-bf16", provider.Name);
        Assert.Equal(ComputeProvider.OneDnnBf16, provider.Provider);
        // And a Linear-shaped product really runs on the tiles (oneDNN may pick AVX-512 for odd small shapes).
        var c = new float[512 * 384];
        provider.Multiply(false, true, 512, 384, 384, 1, new float[512 * 384], 384, new float[384 * 384], 384, default, 0, c, 384);
        Assert.NotNull(OneDnnMatMul.LastImplementation);
        if (amx) Assert.Contains("amx", OneDnnMatMul.LastImplementation, StringComparison.Ordinal);
    }

    private static void Check(MatMul provider, bool ta, bool tb, int m, int n, int k, bool bias, float beta, int pad)
    {
        var rng = new Random(m * 31 + n * 7 + k + (ta ? 1 : 0) + (tb ? 2 : 0));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = Random(rng, (ta ? k : m) * lda);
        var b = Random(rng, (tb ? n : k) * ldb);
        var bv = bias ? Random(rng, n) : null;
        var c = Random(rng, m * ldc);
        var c0 = (float[])c.Clone();
        provider.Multiply(ta, tb, m, n, k, 1, a, lda, b, ldb, bv, beta, c, ldc);
        var expected = RoundedProduct(ta, tb, m, n, k, a, lda, b, ldb, bv);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                var (value, scale) = expected[i * n + j];
                double want = value + beta * c0[i * ldc + j];
                double got = c[i * ldc + j];
                Assert.True(Math.Abs(got - want) <= 1e-5 * (scale + Math.Abs(c0[i * ldc + j])) + 1e-6,
                    $"ta={ta} tb={tb} {m}x{n}x{k} beta={beta}: C[{i},{j}] = {got}, expected {want}");
            }
        if (pad > 0)
            for (int i = 0; i < m; i++)
                for (int j = n; j < ldc && i * ldc + j < c.Length; j++)
                    Assert.Equal(c0[i * ldc + j], c[i * ldc + j]);
    }

    // Σ round(a)·round(b) + bias in double (a unrounded when !roundA), with Σ|terms| for the tolerance.
    private static (double Value, double Scale)[] RoundedProduct(bool ta, bool tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[]? bias, bool roundA = true)
    {
        float A(float v) => roundA ? Bf16.ToSingle(Bf16.Round(v)) : v;
        var result = new (double, double)[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = bias?[j] ?? 0, scale = Math.Abs(bias?[j] ?? 0);
                for (int p = 0; p < k; p++)
                {
                    double term = (double)A(ta ? a[p * lda + i] : a[i * lda + p]) * Bf16.ToSingle(Bf16.Round(tb ? b[j * ldb + p] : b[p * ldb + j]));
                    sum += term;
                    scale += Math.Abs(term);
                }
                result[i * n + j] = (sum, scale);
            }
        return result;
    }

    private static float[] Random(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
