using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

public class KernelsTests
{
    // Shapes: odd widths (vector body + scalar tail), and one over the row-parallel threshold.
    public static TheoryData<int, int> Shapes => new() { { 1, 7 }, { 5, 37 }, { 3, 384 }, { 300, 385 } };

    [Fact]
    public void ErfMatchesHighPrecisionSeries()
    {
        var x = new float[12001];
        for (int i = 0; i < x.Length; i++) x[i] = -6f + i * 1e-3f;
        x[^1] = float.PositiveInfinity;
        var y = new float[x.Length];
        Kernels.Erf(x, y);
        double worst = 0;
        for (int i = 0; i < x.Length - 1; i++) worst = Math.Max(worst, Math.Abs(y[i] - Reference.Erf(x[i])));
        Assert.True(worst < 2.5e-7, $"max |erf error| = {worst:E2}");
        Assert.Equal(1f, y[^1]);
        Assert.True(Math.Abs(Kernels.Erf(0.5) - Reference.Erf(0.5)) < 1.2e-7);
    }

    [Theory]
    [MemberData(nameof(SimdWidthTests.Widths), MemberType = typeof(SimdWidthTests))]
    public void ExpIsWithinThreeUlpAndHandlesTheEdges(int lanes)
    {
        var x = new float[20000];
        for (int i = 0; i < x.Length; i++) x[i] = -100f + i * 1e-2f;
        x[0] = float.NaN;
        x[1] = float.NegativeInfinity;
        x[2] = float.PositiveInfinity;
        var y = lanes switch { 16 => Exp<Vec512>(x), 8 => Exp<Vec256>(x), _ => Exp<Vec128>(x) };
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            double want = Math.Exp(v);
            if (float.IsNaN(v)) Assert.True(float.IsNaN(y[i]));
            else if (v < -87.33654f) Assert.Equal(0f, y[i]);
            else if (v > 88.72283f) Assert.Equal(float.PositiveInfinity, y[i]);
            else if (v > 88.37626f) Assert.True(y[i] > 2.4e38f); // clamped just below float's top
            else Assert.True(Math.Abs(y[i] - want) <= 3 * 6e-8 * want, $"exp({v}) = {y[i]}, expected {want}");
        }
    }

    [Theory]
    [MemberData(nameof(SimdWidthTests.Widths), MemberType = typeof(SimdWidthTests))]
    public unsafe void ExpOfNonPositiveIsWithinThreeUlpAndHandlesTheEdges(int lanes)
    {
        var x = new float[12000];
        for (int i = 0; i < x.Length; i++) x[i] = -100f + i * (100f / 11999);
        x[0] = float.NaN;
        x[1] = float.NegativeInfinity;
        x[2] = float.MinValue;   // an additive mask's masked score
        x[^1] = 0;
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
        {
            switch (lanes)
            {
                case 16: ExpNonPositive<Vec512>(px, py, x.Length); break;
                case 8: ExpNonPositive<Vec256>(px, py, x.Length); break;
                default: ExpNonPositive<Vec128>(px, py, x.Length); break;
            }
        }
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(1f, y[^1]);
        for (int i = 1; i < x.Length; i++)
        {
            float v = x[i];
            double want = Math.Exp(v);
            if (v < -87.33654f) Assert.Equal(0f, y[i]);
            else Assert.True(Math.Abs(y[i] - want) <= 3 * 6e-8 * want, $"exp({v}) = {y[i]}, expected {want}");
        }
    }

    private static unsafe void ExpNonPositive<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        for (int i = 0; i < n; i += V.Count) V.Store(Kernels.ExpNonPositive(V.Load(x + i)), y + i);
    }

    // The vectorised exponential at one width over x (whose length is a multiple of every width).
    private static unsafe float[] Exp<V>(float[] x) where V : unmanaged, IVec<V>
    {
        var y = new float[x.Length];
        fixed (float* px = x, py = y)
            for (int i = 0; i < x.Length; i += V.Count) V.Store(Kernels.Exp(V.Load(px + i)), py + i);
        return y;
    }

    [Fact]
    public void GeluMatchesDoubleReferenceAndKeepsRelativeAccuracyInTheNegativeTail()
    {
        var x = new float[4001];
        for (int i = 0; i < x.Length; i++) x[i] = -10f + i * 5e-3f;
        var y = GeluWithinTolerance(x);
        Kernels.Gelu(x, x); // in place
        Assert.Equal(y, x);
    }

    [Fact]
    public void GeluMatchesDoubleReferenceWhereTailLanesAreScatteredThroughTheBlocks()
    {
        // Values below −3 take erfc's route register by register, gathered from among values that do not: shuffled,
        // most registers of a block mix the two, and the 1000 values end in a partial block and a scalar remainder.
        var rng = new Random(7);
        var x = new float[1000];
        for (int i = 0; i < x.Length; i++) x[i] = -9f + 14f * (float)rng.NextDouble();
        var y = GeluWithinTolerance(x);
        // From −3 up, a value's result does not depend on where it sits: alone (the scalar remainder), the same float.
        for (int i = 0; i < x.Length; i += 37)
        {
            if (x[i] < -3) continue;
            var one = new float[1];
            Kernels.Gelu(x.AsSpan(i, 1), one);
            Assert.Equal(y[i], one[0]);
        }
    }

    // Kernels.Gelu(x) against the double reference: relative 2e-5 below −3 (the tail keeps its relative accuracy),
    // absolute 3e-7·(|x| + 1) from there up.
    private static float[] GeluWithinTolerance(float[] x)
    {
        var y = new float[x.Length];
        Kernels.Gelu(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double want = Reference.Gelu(x[i]);
            double tol = x[i] < -3 ? 2e-5 * Math.Abs(want) : 3e-7 * (Math.Abs(x[i]) + 1);
            Assert.True(Math.Abs(y[i] - want) <= tol, $"GELU({x[i]}) at {i} = {y[i]}, expected {want}");
        }
        return y;
    }

    [Fact]
    public void GeluWithDerivativeGivesGeluAndItsFiniteDifferenceDerivative()
    {
        var rng = new Random(1);
        var x0 = Random(rng, 53, 4);   // a vector body and a scalar tail
        x0[0] = -9; x0[1] = 9; x0[2] = 0;
        var x = (float[])x0.Clone();
        var y = new float[x.Length];
        Kernels.GeluWithDerivative(x, y);
        var gelu = new float[x.Length];
        Kernels.Gelu(x0, gelu);
        Assert.Equal(gelu, y);
        for (int i = 0; i < x.Length; i++)
        {
            double fd = Reference.Derivative(t => Reference.Gelu(t), x0[i]);
            Assert.True(Math.Abs(x[i] - fd) <= 2e-6 + 1e-5 * Math.Abs(fd), $"GELU'({x0[i]}) = {x[i]}, finite difference {fd}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BiasBackwardMatchesDoubleSums(int rows, int cols)
    {
        var rng = new Random(rows + cols);
        var x = Random(rng, rows * cols, 1);
        var dBias = Random(rng, cols, 1);
        var start = (float[])dBias.Clone();
        Kernels.BiasBackward(x, dBias, rows, cols);
        for (int c = 0; c < cols; c++)
        {
            double want = start[c];
            for (int r = 0; r < rows; r++) want += x[r * cols + c];
            Assert.True(Math.Abs(dBias[c] - want) < 1e-5 * (rows + 1), $"dBias[{c}] = {dBias[c]}, expected {want}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MaskBiasBackwardMatchesDoubleProductsAndSums(int rows, int cols)
    {
        var rng = new Random(3 * rows + cols);
        var dy = Random(rng, rows * cols, 1);
        var mask = Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble() < 0.2 ? 0f : 1.25f).ToArray();
        var dBias = Random(rng, cols, 1);
        var start = (float[])dBias.Clone();
        var dx = new float[rows * cols];
        Kernels.MaskBiasBackward(dy, mask, dx, dBias, rows, cols);
        for (int i = 0; i < dx.Length; i++) Assert.Equal((float)((double)dy[i] * mask[i]), dx[i]);
        for (int c = 0; c < cols; c++)
        {
            double want = start[c];
            for (int r = 0; r < rows; r++) want += (double)dy[r * cols + c] * mask[r * cols + c];
            Assert.True(Math.Abs(dBias[c] - want) < 1e-5 * (rows + 1), $"dBias[{c}] = {dBias[c]}, expected {want}");
        }
        // In place (dx aliasing dy) gives the same.
        var inPlace = (float[])dy.Clone();
        Kernels.MaskBiasBackward(inPlace, mask, inPlace, new float[cols], rows, cols);
        Assert.Equal(dx, inPlace);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LayerNormMatchesDoubleReference(int rows, int cols)
    {
        var rng = new Random(rows + 3 * cols);
        var x = Random(rng, rows * cols, 2);
        for (int i = 0; i < x.Length; i++) x[i] += 5; // an offset that a one-pass variance would lose
        var gamma = Random(rng, cols, 1);
        var beta = Random(rng, cols, 1);
        var y = new float[rows * cols];
        var mean = new float[rows];
        var rstd = new float[rows];
        Kernels.LayerNorm(x, gamma, beta, y, mean, rstd, rows, cols, 1e-5f);
        var (want, mu, rs) = Reference.LayerNorm(x, gamma, beta, rows, cols, 1e-5);
        AssertClose(want, y, 2e-5);
        AssertClose(mu, mean, 1e-6);
        AssertClose(rs, rstd, 1e-5);

        // Fused residual add: sum aliases x.
        var res = Random(rng, rows * cols, 1);
        var sum = (float[])x.Clone();
        var y2 = new float[rows * cols];
        Kernels.AddLayerNorm(sum, res, gamma, beta, sum, y2, mean, rstd, rows, cols, 1e-12f);
        var summed = x.Select((v, i) => v + res[i]).ToArray();
        Assert.Equal(summed, sum);
        AssertClose(Reference.LayerNorm(summed, gamma, beta, rows, cols, 1e-12).Y, y2, 2e-5);
    }

    [Fact]
    public void LayerNormBackwardMatchesFiniteDifferences()
    {
        int rows = 3, cols = 21;
        var rng = new Random(5);
        var x = Random(rng, rows * cols, 2);
        var gamma = Random(rng, cols, 1);
        var beta = Random(rng, cols, 1);
        var w = Random(rng, rows * cols, 1); // loss = Σ w·LayerNorm(x)
        var (dx, dGamma, dBeta) = RunLayerNormBackward(x, gamma, w, rows, cols, 1e-5f, new Random(9));

        double Loss(double[] xd, double[] g, double[] b) =>
            Reference.LayerNorm(xd, g, b, rows, cols, 1e-5).Y.Select((v, i) => v * w[i]).Sum();
        var xs = x.Select(v => (double)v).ToArray();
        var gs = gamma.Select(v => (double)v).ToArray();
        var bs = beta.Select(v => (double)v).ToArray();
        for (int i = 0; i < x.Length; i++)
            AssertFd(dx[i], Reference.Partial(xs, i, a => Loss(a, gs, bs)), $"dx[{i}]");
        for (int c = 0; c < cols; c++)
        {
            AssertFd(dGamma[c], Reference.Partial(gs, c, a => Loss(xs, a, bs)), $"dGamma[{c}]");
            AssertFd(dBeta[c], Reference.Partial(bs, c, a => Loss(xs, gs, a)), $"dBeta[{c}]");
        }
    }

    [Fact]
    public void LayerNormBackwardOnManyRowsMatchesTheDoubleFormula()
    {
        // Large enough to split rows across threads, so dGamma/dBeta go through per-chunk partials.
        int rows = 300, cols = 385;
        var rng = new Random(6);
        var x = Random(rng, rows * cols, 2);
        var gamma = Random(rng, cols, 1);
        var w = Random(rng, rows * cols, 1);
        var (dx, dGamma, dBeta) = RunLayerNormBackward(x, gamma, w, rows, cols, 1e-5f, new Random(9));
        var wantG = new double[cols];
        var wantB = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0, var = 0;
            for (int c = 0; c < cols; c++) mu += x[r * cols + c];
            mu /= cols;
            for (int c = 0; c < cols; c++) var += (x[r * cols + c] - mu) * (x[r * cols + c] - mu);
            double rs = 1 / Math.Sqrt(var / cols + 1e-5), sg = 0, sgx = 0;
            for (int c = 0; c < cols; c++)
            {
                double xhat = (x[r * cols + c] - mu) * rs, g = w[r * cols + c] * gamma[c];
                sg += g;
                sgx += g * xhat;
                wantG[c] += w[r * cols + c] * xhat;
                wantB[c] += w[r * cols + c];
            }
            for (int c = 0; c < cols; c++)
            {
                double xhat = (x[r * cols + c] - mu) * rs;
                double want = rs * (w[r * cols + c] * gamma[c] - sg / cols - xhat * sgx / cols);
                Assert.True(Math.Abs(dx[r * cols + c] - want) <= 1e-4 * (1 + Math.Abs(want)), $"dx[{r},{c}]");
            }
        }
        for (int c = 0; c < cols; c++)
        {
            Assert.True(Math.Abs(dGamma[c] - wantG[c]) <= 1e-3, $"dGamma[{c}]");
            Assert.True(Math.Abs(dBeta[c] - wantB[c]) <= 1e-3, $"dBeta[{c}]");
        }
    }

    // Runs the kernel with dx aliasing dy and parameter gradients starting from random values
    // (they must accumulate); returns dx and the increments of dGamma and dBeta.
    private static (float[] Dx, float[] DGamma, float[] DBeta) RunLayerNormBackward(
        float[] x, float[] gamma, float[] dy, int rows, int cols, float eps, Random startRng)
    {
        var y = new float[rows * cols];
        var mean = new float[rows];
        var rstd = new float[rows];
        Kernels.LayerNorm(x, gamma, new float[cols], y, mean, rstd, rows, cols, eps);
        var start = Random(startRng, 2 * cols, 1);
        var dGamma = start[..cols];
        var dBeta = start[cols..];
        var dx = (float[])dy.Clone();
        Kernels.LayerNormBackward(dx, x, mean, rstd, gamma, dx, dGamma, dBeta, rows, cols);
        return (dx, dGamma.Select((v, i) => v - start[i]).ToArray(), dBeta.Select((v, i) => v - start[cols + i]).ToArray());
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SoftmaxMatchesDoubleReference(int rows, int cols)
    {
        var rng = new Random(rows * 17 + cols);
        var x = Random(rng, rows * cols, 30);
        var y = (float[])x.Clone();
        Kernels.SoftmaxRows(y, rows, cols);
        AssertClose(Reference.Softmax(x, rows, cols, 1, null), y, 1e-6);

        var mask = new float[cols];
        for (int c = 0; c < cols; c++) mask[c] = c % 3 == 1 ? -10000f : 0;
        var z = (float[])x.Clone();
        Kernels.ScaledMaskedSoftmax(z, rows, cols, 0.125f, mask);
        AssertClose(Reference.Softmax(x, rows, cols, 0.125, mask), z, 1e-6);
    }

    [SkippableFact]
    public void CoarseExpIsWithinItsBoundForSoftmaxArguments()
    {
        Skip.IfNot(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, "ExpCoarse is the AVX-512 softmax's (vscalefps); this CPU has no AVX-512");
        var y = new float[16];
        for (int i = 0; i < 20000; i += 16)
        {
            var x = new float[16];
            for (int l = 0; l < 16; l++) x[l] = -(i + l) * 4.3e-3f;   // 0 down to −86
            System.Runtime.Intrinsics.Vector512.CopyTo(Kernels.ExpCoarse(System.Runtime.Intrinsics.Vector512.Create(x)), y);
            for (int l = 0; l < 16; l++)
            {
                double want = Math.Exp(x[l]);
                Assert.True(Math.Abs(y[l] - want) <= 6e-5 * want, $"exp({x[l]}) = {y[l]}, expected {want}");
            }
        }
        System.Runtime.Intrinsics.Vector512.CopyTo(Kernels.ExpCoarse(System.Runtime.Intrinsics.Vector512.Create(-1000f)), y);
        Assert.True(y[0] > 0 && y[0] < 1.2e-38f && float.IsNormal(y[0]));
    }

    [Theory]
    [InlineData(40, 48, 37)]   // more rows than one phase's 32, keys with a scalar tail, padded keys
    [InlineData(3, 32, 32)]
    [InlineData(2, 20, 0)]     // no real keys: all zeros
    public unsafe void SoftmaxToBf16MatchesDoubleReference(int rows, int n, int keys)
    {
        var rng = new Random(rows + keys);
        var x = Random(rng, rows * n, 8);
        var copy = (float[])x.Clone();
        var y = new ushort[rows * n];
        float scale = 0.35f;
        fixed (float* px = x)
        fixed (ushort* py = y)
            Kernels.SoftmaxRowsToBf16(px, rows, keys, n, scale, py);
        for (int r = 0; r < rows; r++)
        {
            var want = keys > 0 ? Reference.Softmax(copy.Skip(r * n).Take(keys).ToArray(), 1, keys, scale, null) : [];
            for (int c = 0; c < n; c++)
            {
                float got = Bf16.ToSingle(y[r * n + c]);
                if (c >= keys) Assert.Equal(0f, got);
                else Assert.True(Math.Abs(got - want[c]) <= want[c] * (1.0 / 256), $"P[{r},{c}] = {got}, expected {want[c]}");
            }
        }
    }

    [Fact]
    public void SoftmaxBackwardMatchesFiniteDifferences()
    {
        int rows = 3, cols = 19;
        var rng = new Random(8);
        var x = Random(rng, rows * cols, 3);
        var w = Random(rng, rows * cols, 1); // loss = Σ w·softmax(x)
        var y = (float[])x.Clone();
        Kernels.SoftmaxRows(y, rows, cols);
        var dx = (float[])w.Clone();
        Kernels.SoftmaxRowsBackward(y, dx, dx, rows, cols); // dx aliases dy
        var xs = x.Select(v => (double)v).ToArray();
        for (int i = 0; i < x.Length; i++)
            AssertFd(dx[i], Reference.Partial(xs, i, a => Reference.Softmax(a, rows, cols, 1, null).Select((v, j) => v * w[j]).Sum()), $"dx[{i}]");
    }

    [Fact]
    public void WarmCallsAllocateNothingOnTheCallingThread()
    {
        int rows = 300, cols = 385; // over the row-parallel threshold
        var rng = new Random(4);
        var x = Random(rng, rows * cols, 1);
        var dy = Random(rng, rows * cols, 1);
        var gamma = Random(rng, cols, 1);
        var y = new float[rows * cols];
        var dx = new float[rows * cols];
        var mean = new float[rows];
        var rstd = new float[rows];
        var dGamma = new float[cols];
        var dBeta = new float[cols];
        void Step()
        {
            Kernels.LayerNorm(x, gamma, gamma, y, mean, rstd, rows, cols, 1e-5f);
            Kernels.LayerNormBackward(dy, x, mean, rstd, gamma, dx, dGamma, dBeta, rows, cols);
            Kernels.GeluWithDerivative(y, dx);
            Kernels.SoftmaxRows(y, rows, cols);
        }
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ShortSpansNameTheTensor()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Kernels.LayerNorm(new float[12], new float[4], new float[3], new float[12], new float[3], new float[3], 3, 4, 1e-5f));
        Assert.Contains("beta", e.Message);
        e = Assert.Throws<ArgumentException>(() => Kernels.SoftmaxRows(new float[11], 3, 4));
        Assert.Contains("x holds 11 values", e.Message);
    }

    internal static void AssertFd(float got, double fd, string what) =>
        Assert.True(Math.Abs(got - fd) <= 1e-4 + 1e-3 * Math.Abs(fd), $"{what} = {got}, finite difference {fd}");

    internal static void AssertClose(double[] want, float[] got, double tol)
    {
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(got[i] - want[i]) <= tol * (1 + Math.Abs(want[i])), $"[{i}] = {got[i]}, expected {want[i]}");
    }

    internal static float[] Random(Random rng, int count, double scale)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return x;
    }
}
