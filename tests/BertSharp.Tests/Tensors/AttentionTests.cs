using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

// Switches Gemm.Path, so it runs apart from the tests that multiply (GemmSettingsCollection).
[Collection(GemmSettingsCollection.Name)]
public class AttentionTests
{
    // batch, seq, heads, headDim, padding columns in the row stride.
    public static TheoryData<int, int, int, int, int> ForwardShapes => new()
    {
        { 2, 6, 2, 5, 3 },      // tiny, with padding columns in the row stride
        { 3, 40, 4, 16, 0 },    // enough (batch, head) pairs to run in parallel
        { 2, 16, 3, 32, 0 },    // the direct short-sequence kernels: one whole 16-key block, 14 keys when padded
        { 3, 37, 2, 48, 4 },    // direct: a partial key block, a short last group of query rows, three 16-wide column blocks
        { 1, 64, 2, 32, 0 },    // direct at its limit, DirectKeys
        { 2, 66, 2, 32, 0 },    // past DirectKeys: the packed GEMMs; padded to 64 keys, direct with more query rows than keys
        { 1, 1, 1, 16, 0 },     // direct with one token
        // Without probabilities, past DirectKeys: the key-major kernel (its queries in blocks of 32, keys in slivers of 12).
        { 2, 100, 2, 32, 3 },   // 100 and 98 keys, a last block of 4 queries
        { 1, 77, 2, 64, 0 },    // BERT-base's head width
        { 1, 70, 1, 40, 2 },    // a head width of 12 + 12 + 12 + 4: Vᵀ's last sliver on the 4-row kernel
    };

    [Theory]
    [MemberData(nameof(ForwardShapes))]
    public void ForwardMatchesDoubleReferenceAndSkipsPaddedKeys(int batch, int seq, int heads, int dh, int pad)
    {
        int ld = heads * dh + pad;
        var rng = new Random(seq);
        var q = KernelsTests.Random(rng, batch * seq * ld, 1);
        var k = KernelsTests.Random(rng, batch * seq * ld, 1);
        var v = KernelsTests.Random(rng, batch * seq * ld, 1);
        var valid = Enumerable.Range(0, batch).Select(b => seq - 2 * b).ToArray();
        float scale = 1 / MathF.Sqrt(dh);
        var ctx = new float[batch * seq * ld];
        var probs = new float[batch * heads * seq * seq];
        Attention.Forward(q, k, v, ld, ctx, ld, probs, batch, seq, heads, dh, scale, valid);
        var (wantCtx, wantP) = Forward(Doubles(q), Doubles(k), Doubles(v), ld, batch, seq, heads, dh, scale, valid);
        for (int i = 0; i < wantP.Length; i++)
            Assert.True(Math.Abs(probs[i] - wantP[i]) <= 1e-6, $"P[{i}] = {probs[i]}, expected {wantP[i]}");
        for (int t = 0; t < batch * seq; t++)
        {
            for (int c = 0; c < heads * dh; c++)
                Assert.True(Math.Abs(ctx[t * ld + c] - wantCtx[t * ld + c]) <= 1e-5, $"context[{t},{c}]");
            for (int c = heads * dh; c < ld; c++) Assert.Equal(0f, ctx[t * ld + c]); // padding columns untouched
        }

        // Values behind padded keys must not matter, and probs may be omitted.
        for (int b = 0; b < batch; b++)
            for (int j = valid[b]; j < seq; j++)
                for (int c = 0; c < ld; c++)
                {
                    k[(b * seq + j) * ld + c] = 1e6f;
                    v[(b * seq + j) * ld + c] = float.NaN;
                }
        // Without probabilities a long sequence takes the key-major kernel, which sums in another order: against the
        // reference again.
        OnEveryVectorKernel(isa =>
        {
            var ctx2 = new float[ctx.Length];
            Attention.Forward(q, k, v, ld, ctx2, ld, default, batch, seq, heads, dh, scale, valid);
            for (int t = 0; t < batch * seq; t++)
            {
                for (int c = 0; c < heads * dh; c++)
                    Assert.True(Math.Abs(ctx2[t * ld + c] - wantCtx[t * ld + c]) <= 1e-5, $"{isa}: context[{t},{c}] = {ctx2[t * ld + c]}, expected {wantCtx[t * ld + c]}");
                for (int c = heads * dh; c < ld; c++) Assert.Equal(0f, ctx2[t * ld + c]);
            }
        });
    }

    // Runs check under this machine's microkernel and, on AVX-512, under the AVX2 one too (their key-major layouts differ).
    private static void OnEveryVectorKernel(Action<Gemm.Isa> check)
    {
        var isas = new List<Gemm.Isa> { Gemm.Path };
        if (Gemm.Path == Gemm.Isa.Avx512 && System.Runtime.Intrinsics.X86.Fma.IsSupported) isas.Add(Gemm.Isa.Avx2);
        var saved = Gemm.Path;
        try
        {
            foreach (var isa in isas)
            {
                Gemm.Path = isa;
                check(isa);
            }
        }
        finally
        {
            Gemm.Path = saved;
        }
    }

    [Fact]
    public void KeyMajorKernelWithAHoleInTheMaskMatchesDoubleReference()
    {
        // The key-major kernel (many query rows, no probabilities) under an additive mask besides right padding.
        int batch = 2, seq = 90, heads = 2, dh = 32, ld = 3 * heads * dh;
        var rng = new Random(9);
        var qkv = KernelsTests.Random(rng, batch * seq * ld, 1);
        int[] valid = [90, 71];
        var add = new float[batch * seq];
        add[3] = add[seq + 40] = add[seq + 41] = float.MinValue;
        float scale = 1 / MathF.Sqrt(dh);
        var (want, _) = Forward(Doubles(qkv), Doubles(qkv.AsSpan(heads * dh).ToArray()), Doubles(qkv.AsSpan(2 * heads * dh).ToArray()), ld,
            batch, seq, heads, dh, scale, valid, heads * dh, add: add);
        OnEveryVectorKernel(isa =>
        {
            var ctx = new float[batch * seq * heads * dh];
            Attention.ForwardQueries(qkv, ld, seq, qkv.AsSpan(heads * dh), qkv.AsSpan(2 * heads * dh), ld, ctx, heads * dh, default,
                batch, seq, heads, dh, scale, valid, add, 0, 0);
            for (int i = 0; i < ctx.Length; i++)
                Assert.True(Math.Abs(ctx[i] - want[i]) <= 1e-5, $"{isa}: context[{i}] = {ctx[i]}, expected {want[i]}");
        });
    }

    [Fact]
    public void BackwardMatchesFiniteDifferences()
    {
        int batch = 2, seq = 5, heads = 2, dh = 3, ld = 3 * heads * dh; // q, k, v as slices of a fused QKV row
        var rng = new Random(11);
        var qkv = KernelsTests.Random(rng, batch * seq * ld, 1);
        var valid = new[] { 5, 3 };
        float scale = 0.6f;
        int hidden = heads * dh;
        var w = KernelsTests.Random(rng, batch * seq * hidden, 1); // loss = Σ w·context
        var ctx = new float[batch * seq * hidden];
        var probs = new float[batch * heads * seq * seq];
        var q = qkv.AsSpan();
        Attention.Forward(q, q[hidden..], q[(2 * hidden)..], ld, ctx, hidden, probs, batch, seq, heads, dh, scale, valid);
        var grad = new float[qkv.Length];
        Array.Fill(grad, float.NaN); // every gradient element must be written
        var g = grad.AsSpan();
        Attention.Backward(q, q[hidden..], q[(2 * hidden)..], ld, probs, w, hidden,
            g, g[hidden..], g[(2 * hidden)..], ld, batch, seq, heads, dh, scale, valid);

        var x = Doubles(qkv);
        double Loss(double[] a)
        {
            var (c, _) = Forward(a, a[hidden..], a[(2 * hidden)..], ld, batch, seq, heads, dh, scale, valid, ldOut: hidden);
            return c.Select((val, i) => val * w[i]).Sum();
        }
        for (int i = 0; i < x.Length; i++)
            KernelsTests.AssertFd(grad[i], Reference.Partial(x, i, Loss), $"d(qkv)[{i / ld},{i % ld}]");
    }

    [Theory]
    [InlineData(2, 21, 2, 8, 0.3f)]   // rows not a multiple of 16: the hash's scalar tail
    [InlineData(3, 40, 4, 16, 0.1f)]  // parallel (batch, head) pairs
    public void DropoutForwardUsesTheCounterMaskAndKeepsUndroppedProbs(int batch, int seq, int heads, int dh, float p)
    {
        int ld = heads * dh;
        var rng = new Random(seq);
        var q = KernelsTests.Random(rng, batch * seq * ld, 1);
        var k = KernelsTests.Random(rng, batch * seq * ld, 1);
        var v = KernelsTests.Random(rng, batch * seq * ld, 1);
        var valid = Enumerable.Range(0, batch).Select(b => seq - 3 * b).ToArray();
        float scale = 1 / MathF.Sqrt(dh);
        const ulong key = 0x1234_5678_9ABCUL;
        var ctx = new float[batch * seq * ld];
        var probs = new float[batch * heads * seq * seq];
        Attention.Forward(q, k, v, ld, ctx, ld, probs, batch, seq, heads, dh, scale, valid, p, key);
        var (wantCtx, wantP) = Forward(Doubles(q), Doubles(k), Doubles(v), ld, batch, seq, heads, dh, scale, valid,
            mask: ScalarMask(p, key));
        for (int i = 0; i < wantP.Length; i++)
            Assert.True(Math.Abs(probs[i] - wantP[i]) <= 1e-6, $"P[{i}] = {probs[i]}, expected {wantP[i]}");
        for (int i = 0; i < wantCtx.Length; i++)
            Assert.True(Math.Abs(ctx[i] - wantCtx[i]) <= 1e-5, $"context[{i / ld},{i % ld}] = {ctx[i]}, expected {wantCtx[i]}");
        // The mask really drops something: without it the context differs.
        var (plain, _) = Forward(Doubles(q), Doubles(k), Doubles(v), ld, batch, seq, heads, dh, scale, valid);
        Assert.Contains(Enumerable.Range(0, ctx.Length), i => Math.Abs(ctx[i] - plain[i]) > 1e-3);
    }

    [Fact]
    public void DropoutBackwardMatchesFiniteDifferences()
    {
        int batch = 2, seq = 19, heads = 2, dh = 3, ld = 3 * heads * dh;
        var rng = new Random(5);
        var qkv = KernelsTests.Random(rng, batch * seq * ld, 1);
        var valid = new[] { 19, 17 };
        float scale = 0.6f, p = 0.25f;
        const ulong key = 977;
        int hidden = heads * dh;
        var w = KernelsTests.Random(rng, batch * seq * hidden, 1); // loss = Σ w·context
        var ctx = new float[batch * seq * hidden];
        var probs = new float[batch * heads * seq * seq];
        var q = qkv.AsSpan();
        Attention.Forward(q, q[hidden..], q[(2 * hidden)..], ld, ctx, hidden, probs, batch, seq, heads, dh, scale, valid, p, key);
        var grad = new float[qkv.Length];
        Array.Fill(grad, float.NaN);
        var g = grad.AsSpan();
        Attention.Backward(q, q[hidden..], q[(2 * hidden)..], ld, probs, w, hidden,
            g, g[hidden..], g[(2 * hidden)..], ld, batch, seq, heads, dh, scale, valid, p, key);

        var x = Doubles(qkv);
        var mask = ScalarMask(p, key);
        double Loss(double[] a)
        {
            var (c, _) = Forward(a, a[hidden..], a[(2 * hidden)..], ld, batch, seq, heads, dh, scale, valid, ldOut: hidden, mask: mask);
            return c.Select((val, i) => val * w[i]).Sum();
        }
        for (int i = 0; i < x.Length; i++)
            KernelsTests.AssertFd(grad[i], Reference.Partial(x, i, Loss), $"d(qkv)[{i / ld},{i % ld}]");
    }

    [Fact]
    public void DropoutOutsideZeroToOneIsRefused()
    {
        var x = new float[4];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Attention.Forward(x, x, x, 2, x, 2, default, 1, 2, 1, 2, 1, [2], dropout: 1f));
        Assert.Equal("dropout", e.ParamName);
    }

    // The mask's definition, one element at a time: keep element `index` when Uniform(key, index) ≥ p.
    private static Func<long, double> ScalarMask(float p, ulong key) =>
        index => DropoutMask.Uniform(key, index) >= p ? 1.0 / (1 - p) : 0.0;

    private static double[] Doubles(float[] x) => x.Select(v => (double)v).ToArray();

    // Plain double attention; keys at or past valid[b] are left out of the softmax. mask (optional)
    // scales probability ((b·heads + h)·seq + i)·seq + j before it multiplies v.
    [Fact]
    public void OneQueryRowPerSequenceWithAHoleInTheMaskMatchesDoubleReference()
    {
        // The [CLS]-only last layer on a mask with holes: queries apart from keys and values, one row
        // per sequence, and an additive mask (float.MinValue at masked keys) besides right padding.
        int batch = 2, seq = 6, heads = 2, dh = 4, ld = heads * dh;
        var rng = new Random(5);
        var q = KernelsTests.Random(rng, batch * seq * ld, 1);
        var k = KernelsTests.Random(rng, batch * seq * ld, 1);
        var v = KernelsTests.Random(rng, batch * seq * ld, 1);
        int[] valid = [6, 4];
        var add = new float[batch * seq];
        add[2] = add[seq + 1] = float.MinValue;
        float scale = 1 / MathF.Sqrt(dh);
        var cls = new float[batch * ld];
        for (int b = 0; b < batch; b++) q.AsSpan(b * seq * ld, ld).CopyTo(cls.AsSpan(b * ld));
        var ctx = new float[batch * ld];
        var probs = new float[batch * heads * seq];
        Attention.ForwardQueries(cls, ld, 1, k, v, ld, ctx, ld, probs, batch, seq, heads, dh, scale, valid, add, 0, 0);
        var (wantCtx, wantP) = Forward(Doubles(q), Doubles(k), Doubles(v), ld, batch, seq, heads, dh, scale, valid, add: add);
        for (int b = 0; b < batch; b++)
        {
            for (int c = 0; c < ld; c++)
                Assert.True(Math.Abs(ctx[b * ld + c] - wantCtx[b * seq * ld + c]) <= 1e-5, $"context[{b},{c}]");
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < seq; j++)
                    Assert.True(Math.Abs(probs[(b * heads + h) * seq + j] - wantP[((b * heads + h) * seq) * seq + j]) <= 1e-6, $"P[{b},{h},0,{j}]");
        }
        Assert.Equal(0f, probs[2]);
        Assert.Equal(0f, probs[2 * seq + 1]);
    }

    private static (double[] Context, double[] Probs) Forward(
        double[] q, double[] k, double[] v, int ld, int batch, int seq, int heads, int dh, double scale, int[] valid, int ldOut = -1,
        Func<long, double>? mask = null, float[]? add = null)
    {
        if (ldOut < 0) ldOut = ld;
        var ctx = new double[batch * seq * ldOut];
        var probs = new double[batch * heads * seq * seq];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < seq; i++)
                {
                    var s = new double[valid[b]];
                    for (int j = 0; j < valid[b]; j++)
                        for (int d = 0; d < dh; d++)
                            s[j] += scale * q[(b * seq + i) * ld + h * dh + d] * k[(b * seq + j) * ld + h * dh + d];
                    if (add is not null)
                        for (int j = 0; j < valid[b]; j++) s[j] += add[b * seq + j];
                    double max = s.Max(), sum = s.Sum(e => Math.Exp(e - max));
                    for (int j = 0; j < valid[b]; j++)
                    {
                        double p = Math.Exp(s[j] - max) / sum;
                        long at = ((long)(b * heads + h) * seq + i) * seq + j;
                        probs[at] = p;
                        double used = mask is null ? p : p * mask(at);
                        for (int d = 0; d < dh; d++)
                            ctx[(b * seq + i) * ldOut + h * dh + d] += used * v[(b * seq + j) * ld + h * dh + d];
                    }
                }
        return (ctx, probs);
    }
}
