using System.Runtime.CompilerServices;

namespace BertSharp.Tensors;

// GELU forward (and its derivative for training) and the erf/erfc/Φ approximations it is built on.
internal static unsafe partial class Kernels
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    /// <summary>Exact GELU: y = x · Φ(x) = 0.5 x (1 + erf(x / √2)). In place allowed.</summary>
    /// <remarks>
    /// Φ is a rational function of x (absolute error below 3e-7) except below x = −3, where it is ½·erfc(−x/√2) so
    /// that the negative tail keeps its relative accuracy.
    /// </remarks>
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

    // Φ(x): CdfRational's, and below TailStart ½·erfc(|x|/√2) (relative accuracy where Φ is small).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Cdf<V>(V x) where V : unmanaged, IVec<V>
    {
        var phi = CdfRational(x);
        return V.AnyLessThan(x, V.Create(TailStart)) ? V.Select(V.LessThan(x, V.Create(TailStart)), CdfErfc(x), phi) : phi;
    }

    // Φ(x) = ½ erfc(−x/√2): ½·erfc(|x|/√2) for x < 0, else 1 − that. Relative accuracy everywhere, at some 45 operations.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static V CdfErfc<V>(V x) where V : unmanaged, IVec<V> => Phi(x, V.Create(0.5f) * Erfc(V.Abs(x) * V.Create(InvSqrt2)));

    // Below this, Φ < 1.35e-3 and CdfRational's absolute error would be a large relative one.
    private const float TailStart = -3f;

    // Beyond ±CdfClamp Φ is within 1.1e-8 of 0 or 1, and the rational is evaluated at the clamp.
    private const float CdfClamp = 5.6f;

    // Φ(x) = ½ + u·P(u²)/Q(u²), u = x clamped to ±CdfClamp; P and Q of degree 5, fitted here to Φ on [0, 5.6]
    // (iteratively reweighted least squares towards the smallest largest error): absolute error 2.7e-8, in fp32
    // below 2.3e-7. Some 15 operations and one division, where erfc's route takes some 45 with an exponential.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V CdfRational<V>(V x) where V : unmanaged, IVec<V>
    {
        var u = V.Min(V.Max(x, V.Create(-CdfClamp)), V.Create(CdfClamp));
        var s = u * u;
        var p = V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.Create(P5), s, V.Create(P4)), s, V.Create(P3)), s, V.Create(P2)), s, V.Create(P1)), s, V.Create(P0));
        var q = V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.MultiplyAdd(V.Create(Q5), s, V.Create(Q4)), s, V.Create(Q3)), s, V.Create(Q2)), s, V.Create(Q1)), s, V.Create(1f));
        return V.MultiplyAdd(u, p / q, V.Create(0.5f));
    }

    private const float P0 = 0.3989422619342804f, P1 = 0.032925430685281754f, P2 = 0.0046148342080414295f;
    private const float P3 = 0.00015900295693427324f, P4 = 6.245576514629647e-06f, P5 = 2.3161261353266127e-08f;
    private const float Q1 = 0.2491982877254486f, Q2 = 0.028101203963160515f, Q3 = 0.0018278497736901045f;
    private const float Q4 = 7.03325349604711e-05f, Q5 = 1.2021121165162185e-06f;

    // Φ(x) from half = ½·erfc(|x|/√2): half itself for x < 0, else 1 − half.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static V Phi<V>(V x, V half) where V : unmanaged, IVec<V> => V.Select(V.LessThan(x, V.Zero), half, V.Create(1f) - half);

    // Cdf's scalar twin: from TailStart up operation for operation, so that a value there gets the same Φ wherever it
    // sits in a row (below, the scalar erfc evaluates its polynomial in another order).
    private static float Cdf(float x)
    {
        if (x < TailStart) return 0.5f * Erfc(MathF.Abs(x) * InvSqrt2);
        float u = Math.Clamp(x, -CdfClamp, CdfClamp), s = u * u;
        float p = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(P5, s, P4), s, P3), s, P2), s, P1), s, P0);
        float q = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(Q5, s, Q4), s, Q3), s, Q2), s, Q1), s, 1f);
        return MathF.FusedMultiplyAdd(u, p / q, 0.5f);
    }

    // Per block of GeluBlock floats: every register by CdfRational, noting those with a lane below TailStart
    // (about one register in six of MiniLM's FFN activations: 2 % of values); then those registers, gathered, by
    // GeluErfc, whose results replace the tail lanes. A branch per register to the erfc route instead was
    // mispredicted and paid a call each time: 1.6× the time. On AVX2, 1.2 ns per value where erfc's route for all took 1.9.
    private static void GeluSpan<V>(float* x, float* y, int n) where V : unmanaged, IVec<V>
    {
        int* tail = stackalloc int[GeluBlock / V.Count];
        // The noted registers' inputs (gathered as they are read: y may be x) and their results.
        float* xs = stackalloc float[GeluBlock];
        float* ys = stackalloc float[GeluBlock];
        for (int b = 0; b < n; b += GeluBlock)
        {
            int m = Math.Min(GeluBlock, n - b), vectors = m & ~(V.Count - 1), count = 0, i = 0;
            float* xb = x + b, yb = y + b;
            for (; i < vectors; i += V.Count)
            {
                var v = V.Load(xb + i);
                V.Store(v, xs + count * V.Count);
                tail[count] = i;
                count += V.AnyLessThan(v, V.Create(TailStart)) ? 1 : 0;
                V.Store(v * CdfRational(v), yb + i);
            }
            if (count > 0)
            {
                GeluErfc<V>(xs, ys, count * V.Count);
                for (int j = 0; j < count; j++)
                {
                    float* at = yb + tail[j];
                    V.Store(V.Select(V.LessThan(V.Load(xs + j * V.Count), V.Create(TailStart)), V.Load(ys + j * V.Count), V.Load(at)), at);
                }
            }
            for (; i < m; i++) yb[i] = xb[i] * Cdf(xb[i]);
        }
    }

    // y = x·Φ(x) by erfc's route for whole registers (count a multiple of V.Count, at most GeluBlock), in two passes:
    // erfc's polynomial, then its exponential and the product. One pass held both chains (some 45 dependent
    // operations an element) and ran at their latency: the core's out-of-order window did not reach the next
    // iteration. Each pass alone is short enough for it to overlap iterations, and runs two registers in lock step
    // (see Pair).
    private static void GeluErfc<V>(float* x, float* y, int count) where V : unmanaged, IVec<V>
    {
        var t = stackalloc float[GeluBlock];
        var u = stackalloc float[GeluBlock];
        int pairs = count & ~(2 * V.Count - 1);
        ErfcArguments<Pair<V>>(x, t, u, pairs);
        ErfcArguments<V>(x + pairs, t + pairs, u + pairs, count - pairs);
        GeluFromErfc<Pair<V>>(x, t, u, y, pairs);
        GeluFromErfc<V>(x + pairs, t + pairs, u + pairs, y + pairs, count - pairs);
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
