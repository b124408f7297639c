using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

// GELU forward (and its derivative for training) and the erf/erfc/Φ approximations it is built on.
internal static unsafe partial class Kernels
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>Exact GELU: y = x · Φ(x) = 0.5 x (1 + erf(x / √2)). In place allowed.</summary>
    /// <remarks>Φ is evaluated as ½·erfc(−x/√2), so the tail for negative x keeps its relative accuracy.</remarks>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        Need(y.Length, 1, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var job = new RowJob { X = px, Y = py, Cols = 1 };
            RowParallel.For(x.Length, 1, ref job, ForWidth(&GeluRange<Vec512>, &GeluRange<Vec256>, &GeluRange<Vec128>));
        }
    }

    /// <summary>GELU in place on n floats, on the calling thread (a GEMM task's epilogue).</summary>
    internal static void GeluSerial(float* x, int n)
    {
        switch (Simd.Lanes)
        {
            case Simd.Width.V512: GeluSpan<Vec512>(x, x, n); break;
            case Simd.Width.V256: GeluSpan<Vec256>(x, x, n); break;
            default: GeluSpan<Vec128>(x, x, n); break;
        }
    }

    private static void GeluRange<V>(ref RowJob j, int chunk, int i0, int i1) where V : unmanaged, IVec<V> => GeluSpan<V>(j.X + i0, j.Y + i0, i1 - i0);

    /// <summary>
    /// Training's GELU: y = GELU(x), and x is replaced by GELU′(x) = Φ(x) + x·φ(x), all that backward
    /// needs (dx = dy ⊙ GELU′, <see cref="MaskBiasBackward"/>). Computing the derivative here, where
    /// Φ(x) is at hand, costs one more exponential; recomputing it in backward cost a second erf.
    /// y must not alias x.
    /// </summary>
    public static void GeluWithDerivative(Span<float> x, Span<float> y)
    {
        Need(y.Length, 1, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var job = new RowJob { X = px, Y = py, Cols = 1 };
            RowParallel.For(x.Length, 1, ref job, ForWidth(&GeluWithDerivativeRange<Vec512>, &GeluWithDerivativeRange<Vec256>, &GeluWithDerivativeRange<Vec128>));
        }
    }

    private static void GeluWithDerivativeRange<V>(ref RowJob j, int chunk, int i0, int i1) where V : unmanaged, IVec<V>
    {
        float* x = j.X + i0, y = j.Y + i0;
        int n = i1 - i0, end = VectorEnd<V>(n), i = 0;
        // One register at a time: in Pair's lock step the JIT's inlining budget ran out (an erfc and an exponential).
        for (; i < end; i += V.Count)
        {
            var v = V.Load(x + i);
            var cdf = Cdf(v);
            var pdf = Exp(v * v * V.Create(-0.5f)) * V.Create(InvSqrt2Pi);
            V.Store(v * cdf, y + i);
            V.Store(V.MultiplyAdd(v, pdf, cdf), x + i);
        }
        for (; i < n; i++)
        {
            float v = x[i], cdf = Cdf(v);
            y[i] = v * cdf;
            x[i] = cdf + v * MathF.Exp(-0.5f * v * v) * InvSqrt2Pi;
        }
    }

    /// <summary>erf with |error| below 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - r : r - 1;
    }

    /// <summary>
    /// y = erf(x) element-wise in fp32 (the same fit as <see cref="Erf(double)"/>, vectorised);
    /// absolute error below 2.5e-7 (measured 1.7e-7 on [−6, 6]). In place allowed.
    /// </summary>
    public static void Erf(ReadOnlySpan<float> x, Span<float> y)
    {
        Need(y.Length, 1, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            switch (Simd.Lanes)
            {
                case Simd.Width.V512: ErfSpan<Vec512>(px, py, x.Length); break;
                case Simd.Width.V256: ErfSpan<Vec256>(px, py, x.Length); break;
                default: ErfSpan<Vec128>(px, py, x.Length); break;
            }
        }
    }

    private static void ErfSpan<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        int end = VectorEnd<V>(n), i = 0;
        for (; i < end; i += V.Count)
        {
            var v = V.Load(x + i);
            var e = V.Create(1f) - Erfc(V.Abs(v));
            V.Store(V.Select(V.Create(-0.0f), v, e), y + i);
        }
        for (; i < n; i++) y[i] = MathF.CopySign(1 - Erfc(MathF.Abs(x[i])), x[i]);
    }

    // erfc(z) for z ≥ 0: t·exp(−z² + P(t)), t = 1/(1 + z/2), relative error below 1.2e-7.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Erfc<V>(V z) where V : unmanaged, IVec<V>
    {
        var (t, u) = ErfcParts(z);
        return t * Exp(u);
    }

    // Erfc's factors, erfc(z) = t·e^u: t = 1/(1 + z/2) and u = −z² + P(t), P by Estrin's scheme (see Exp): 4 steps
    // deep instead of Horner's 9.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (V T, V U) ErfcParts<V>(V z) where V : unmanaged, IVec<V>
    {
        var t = V.Create(1f) / V.MultiplyAdd(z, V.Create(0.5f), V.Create(1f));
        var t2 = t * t;
        var t4 = t2 * t2;
        var p01 = V.MultiplyAdd(t, V.Create(1.00002368f), V.Create(-1.26551223f));
        var p23 = V.MultiplyAdd(t, V.Create(0.09678418f), V.Create(0.37409196f));
        var p45 = V.MultiplyAdd(t, V.Create(0.27886807f), V.Create(-0.18628806f));
        var p67 = V.MultiplyAdd(t, V.Create(1.48851587f), V.Create(-1.13520398f));
        var p89 = V.MultiplyAdd(t, V.Create(0.17087277f), V.Create(-0.82215223f));
        var p03 = V.MultiplyAdd(p23, t2, p01);
        var p47 = V.MultiplyAdd(p67, t2, p45);
        return (t, V.MultiplyAdd(-z, z, V.MultiplyAdd(V.MultiplyAdd(p89, t4, p47), t4, p03)));
    }

    private static float Erfc(float z)
    {
        float t = 1 / (1 + 0.5f * z);
        float p = 0.17087277f;
        p = p * t - 0.82215223f;
        p = p * t + 1.48851587f;
        p = p * t - 1.13520398f;
        p = p * t + 0.27886807f;
        p = p * t - 0.18628806f;
        p = p * t + 0.09678418f;
        p = p * t + 0.37409196f;
        p = p * t + 1.00002368f;
        p = p * t - 1.26551223f;
        return t * MathF.Exp(-z * z + p);
    }

    // Φ(x) = ½ erfc(−x/√2): ½·erfc(|x|/√2) for x < 0, else 1 − that.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Cdf<V>(V x) where V : unmanaged, IVec<V> => Phi(x, V.Create(0.5f) * Erfc(V.Abs(x) * V.Create(InvSqrt2)));

    // Φ(x) from half = ½·erfc(|x|/√2): half itself for x < 0, else 1 − half.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Phi<V>(V x, V half) where V : unmanaged, IVec<V> => V.Select(V.LessThan(x, V.Zero), half, V.Create(1f) - half);

    private static float Cdf(float x)
    {
        float half = 0.5f * Erfc(MathF.Abs(x) * InvSqrt2);
        return x < 0 ? half : 1 - half;
    }

    // In blocks of GeluBlock floats, each in two passes: erfc's polynomial, then its exponential and the product.
    // One pass held both chains (some 45 dependent operations an element) and ran at their latency: the core's
    // out-of-order window did not reach the next iteration. Each pass alone is short enough for it to overlap
    // iterations, and runs two registers in lock step (see Pair); the block's t and exponent stay in L1.
    private static void GeluSpan<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        var t = stackalloc float[GeluBlock];
        var u = stackalloc float[GeluBlock];
        for (int i = 0; i < n; i += GeluBlock)
        {
            int m = Math.Min(GeluBlock, n - i), pairs = m & ~(2 * V.Count - 1), vectors = m & ~(V.Count - 1);
            float* xi = x + i, yi = y + i;
            ErfcArguments<Pair<V>>(xi, t, u, pairs);
            ErfcArguments<V>(xi + pairs, t + pairs, u + pairs, vectors - pairs);
            GeluFromErfc<Pair<V>>(xi, t, u, yi, pairs);
            GeluFromErfc<V>(xi + pairs, t + pairs, u + pairs, yi + pairs, vectors - pairs);
            for (int j = vectors; j < m; j++) yi[j] = xi[j] * Cdf(xi[j]);
        }
    }

    private const int GeluBlock = 256;

    // For z = |x|/√2, erfc's factors t and u (see ErfcParts). count: whole registers.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ErfcArguments<V>(float* x, float* t, float* u, int count) where V : unmanaged, IVec<V>
    {
        for (int i = 0; i < count; i += V.Count)
        {
            var (tv, uv) = ErfcParts(V.Abs(V.Load(x + i)) * V.Create(InvSqrt2));
            V.Store(tv, t + i);
            V.Store(uv, u + i);
        }
    }

    // y = x·Φ(x), Φ(x) = ½·erfc(z) for x < 0, else 1 − that, from ErfcArguments' t and u.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void GeluFromErfc<V>(float* x, float* t, float* u, float* y, int count) where V : unmanaged, IVec<V>
    {
        for (int i = 0; i < count; i += V.Count)
        {
            var v = V.Load(x + i);
            V.Store(v * Phi(v, V.Create(0.5f) * V.Load(t + i) * Exp(V.Load(u + i))), y + i);
        }
    }
}
