using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Fused element-wise and row-wise kernels used by the encoder, each with its backward pass.
/// Matrices are row-major [rows, cols]. Backward kernels that produce parameter gradients
/// accumulate (+=) into them, so gradients of shared weights add up across calls.
/// </summary>
/// <remarks>
/// Rows are vectorised with Vector512 (a scalar loop takes the tail, and everything where
/// Vector512 is not accelerated) and split across <see cref="Gemm.MaxThreads"/> threads when a
/// call touches more than about 64K elements. Spans shorter than rows × cols throw an
/// ArgumentException naming the tensor. Serial calls allocate nothing.
/// </remarks>
internal static unsafe class Kernels
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;

    private static int VectorEnd(int n) => Vector512.IsHardwareAccelerated ? n & ~15 : 0;

    /// <summary>dBias += column sums of dy.</summary>
    public static void BiasBackward(ReadOnlySpan<float> dy, Span<float> dBias, int rows, int cols)
    {
        Need(dy.Length, rows, cols, nameof(dy));
        Need(dBias.Length, 1, cols, nameof(dBias));
        fixed (float* pdy = dy, pdb = dBias)
        {
            var job = new RowJob { X = pdy, G0 = pdb, Cols = cols };
            RowParallel.ForAccumulating(rows, cols, ref job, &BiasBackwardRows);
        }
    }

    private static void BiasBackwardRows(ref RowJob j, int chunk, int r0, int r1)
    {
        var target = new Span<float>(j.G0 + chunk * j.GStride, j.Cols);
        for (int r = r0; r < r1; r++) AddInto(new ReadOnlySpan<float>(j.X + (long)r * j.Cols, j.Cols), target);
    }

    /// <summary>
    /// Dropout's and the bias's backward in one pass: dx = dy ⊙ mask, dBias += column sums of dx.
    /// dx may alias dy. With GELU′ as the mask (<see cref="GeluWithDerivative"/>) it is GELU's and
    /// the bias's backward.
    /// </summary>
    public static void MaskBiasBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx, Span<float> dBias, int rows, int cols)
    {
        Need(dy.Length, rows, cols, nameof(dy));
        Need(mask.Length, rows, cols, nameof(mask));
        Need(dx.Length, rows, cols, nameof(dx));
        Need(dBias.Length, 1, cols, nameof(dBias));
        fixed (float* pdy = dy, pm = mask, pdx = dx, pdb = dBias)
        {
            var job = new RowJob { X = pdy, Y = pm, Z = pdx, G0 = pdb, Cols = cols };
            RowParallel.ForAccumulating(rows, cols, ref job, &MaskBiasBackwardRows);
        }
    }

    private static void MaskBiasBackwardRows(ref RowJob j, int chunk, int r0, int r1)
    {
        float* target = j.G0 + chunk * j.GStride;
        int cols = j.Cols, end = VectorEnd(cols);
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * cols;
            float* dy = j.X + o, m = j.Y + o, dx = j.Z + o;
            int c = 0;
            for (; c < end; c += 16)
            {
                var v = Vector512.Load(dy + c) * Vector512.Load(m + c);
                v.Store(dx + c);
                (Vector512.Load(target + c) + v).Store(target + c);
            }
            for (; c < cols; c++)
            {
                float v = dy[c] * m[c];
                dx[c] = v;
                target[c] += v;
            }
        }
    }

    /// <summary>Exact GELU: y = x · Φ(x) = 0.5 x (1 + erf(x / √2)). In place allowed.</summary>
    /// <remarks>Φ is evaluated as ½·erfc(−x/√2), so the tail for negative x keeps its relative accuracy.</remarks>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        Need(y.Length, 1, x.Length, nameof(y));
        fixed (float* px = x, py = y)
        {
            var job = new RowJob { X = px, Y = py, Cols = 1 };
            RowParallel.For(x.Length, 1, ref job, &GeluRange);
        }
    }

    private static void GeluRange(ref RowJob j, int chunk, int i0, int i1) => GeluSpan(j.X + i0, j.Y + i0, i1 - i0);

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
            RowParallel.For(x.Length, 1, ref job, &GeluWithDerivativeRange);
        }
    }

    private static void GeluWithDerivativeRange(ref RowJob j, int chunk, int i0, int i1)
    {
        float* x = j.X + i0, y = j.Y + i0;
        int n = i1 - i0, end = VectorEnd(n), i = 0;
        for (; i < end; i += 16)
        {
            var v = Vector512.Load(x + i);
            var cdf = Cdf(v);
            var pdf = Exp(v * v * Vector512.Create(-0.5f)) * Vector512.Create(InvSqrt2Pi);
            (v * cdf).Store(y + i);
            Vector512.FusedMultiplyAdd(v, pdf, cdf).Store(x + i);
        }
        for (; i < n; i++)
        {
            float v = x[i], cdf = Cdf(v);
            y[i] = v * cdf;
            x[i] = cdf + v * MathF.Exp(-0.5f * v * v) * InvSqrt2Pi;
        }
    }

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta per row; saves mean and rstd (length rows) for backward.
    /// y may alias x.
    /// </summary>
    public static void LayerNorm(
        ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y,
        Span<float> mean, Span<float> rstd, int rows, int cols, float eps)
    {
        CheckLayerNorm(x.Length, gamma.Length, beta.Length, y.Length, mean.Length, rstd.Length, rows, cols);
        fixed (float* px = x, pg = gamma, pb = beta, py = y, pm = mean, pr = rstd)
        {
            var job = new RowJob { X = px, Y = py, Z = pg, W = pb, U = pm, V = pr, Cols = cols, F0 = eps };
            RowParallel.For(rows, cols, ref job, &LayerNormRows);
        }
    }

    /// <summary>
    /// Residual add + layer norm: sum = x + residual (saved: it is the layer norm's input for
    /// <see cref="LayerNormBackward"/>), then y = LayerNorm(sum) with mean and rstd saved.
    /// sum may alias x or residual; y may alias sum only when the sum is not needed afterwards.
    /// </summary>
    public static void AddLayerNorm(
        ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> sum, Span<float> y, Span<float> mean, Span<float> rstd, int rows, int cols, float eps)
    {
        CheckLayerNorm(x.Length, gamma.Length, beta.Length, y.Length, mean.Length, rstd.Length, rows, cols);
        Need(residual.Length, rows, cols, nameof(residual));
        Need(sum.Length, rows, cols, nameof(sum));
        fixed (float* px = x, pres = residual, pg = gamma, pb = beta, ps = sum, py = y, pm = mean, pr = rstd)
        {
            var job = new RowJob { X = ps, Y = py, Z = pg, W = pb, U = pm, V = pr, S = px, T = pres, Cols = cols, F0 = eps };
            RowParallel.For(rows, cols, ref job, &LayerNormRows);
        }
    }

    private static void CheckLayerNorm(int x, int gamma, int beta, int y, int mean, int rstd, int rows, int cols)
    {
        Need(x, rows, cols, nameof(x));
        Need(gamma, 1, cols, nameof(gamma));
        Need(beta, 1, cols, nameof(beta));
        Need(y, rows, cols, nameof(y));
        Need(mean, rows, 1, nameof(mean));
        Need(rstd, rows, 1, nameof(rstd));
    }

    // X = input (or, with S/T set, the place for S + T), Y = output, Z/W = gamma/beta, U/V = mean/rstd.
    private static void LayerNormRows(ref RowJob j, int chunk, int r0, int r1)
    {
        int n = j.Cols, end = VectorEnd(n);
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, y = j.Y + o;
            if (j.S != null) AddTo(j.S + o, j.T + o, x, n);
            float mu = Sum(x, n) / n;
            var vmu = Vector512.Create(mu);
            var acc = Vector512<float>.Zero;
            int c = 0;
            for (; c < end; c += 16)
            {
                var d = Vector512.Load(x + c) - vmu;
                acc = Vector512.FusedMultiplyAdd(d, d, acc);
            }
            float var = Vector512.Sum(acc);
            for (; c < n; c++) var += (x[c] - mu) * (x[c] - mu);
            float rs = (float)(1 / Math.Sqrt(var / n + j.F0));
            j.U[r] = mu;
            j.V[r] = rs;
            var vrs = Vector512.Create(rs);
            for (c = 0; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                Vector512.FusedMultiplyAdd(xhat, Vector512.Load(j.Z + c), Vector512.Load(j.W + c)).Store(y + c);
            }
            for (; c < n; c++) y[c] = (x[c] - mu) * rs * j.Z[c] + j.W[c];
        }
    }

    /// <summary>dx = layer-norm backward; dGamma and dBeta accumulate. dx may alias dy.</summary>
    public static void LayerNormBackward(
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> gamma, Span<float> dx, Span<float> dGamma, Span<float> dBeta, int rows, int cols)
    {
        Need(dy.Length, rows, cols, nameof(dy));
        Need(x.Length, rows, cols, nameof(x));
        Need(mean.Length, rows, 1, nameof(mean));
        Need(rstd.Length, rows, 1, nameof(rstd));
        Need(gamma.Length, 1, cols, nameof(gamma));
        Need(dx.Length, rows, cols, nameof(dx));
        Need(dGamma.Length, 1, cols, nameof(dGamma));
        Need(dBeta.Length, 1, cols, nameof(dBeta));
        fixed (float* pdy = dy, px = x, pm = mean, pr = rstd, pg = gamma, pdx = dx, pdg = dGamma, pdb = dBeta)
        {
            var job = new RowJob { X = px, Y = pdy, Z = pg, U = pm, V = pr, W = pdx, G0 = pdg, G1 = pdb, Cols = cols };
            RowParallel.ForAccumulating(rows, cols, ref job, &LayerNormBackwardRows);
        }
    }

    private static void LayerNormBackwardRows(ref RowJob j, int chunk, int r0, int r1)
    {
        int n = j.Cols, end = VectorEnd(n);
        float* dGamma = j.G0 + chunk * j.GStride, dBeta = j.G1 + chunk * j.GStride, gamma = j.Z;
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, dy = j.Y + o, dx = j.W + o;
            float mu = j.U[r], rs = j.V[r];
            var vmu = Vector512.Create(mu);
            var vrs = Vector512.Create(rs);
            Vector512<float> accG = default, accGX = default;
            int c = 0;
            for (; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                var d = Vector512.Load(dy + c);
                var g = d * Vector512.Load(gamma + c);
                accG += g;
                accGX = Vector512.FusedMultiplyAdd(g, xhat, accGX);
                Vector512.FusedMultiplyAdd(d, xhat, Vector512.Load(dGamma + c)).Store(dGamma + c);
                (Vector512.Load(dBeta + c) + d).Store(dBeta + c);
            }
            float sumG = Vector512.Sum(accG), sumGX = Vector512.Sum(accGX);
            for (; c < n; c++)
            {
                float xhat = (x[c] - mu) * rs, g = dy[c] * gamma[c];
                sumG += g;
                sumGX += g * xhat;
                dGamma[c] += dy[c] * xhat;
                dBeta[c] += dy[c];
            }
            // dx = rs·g − rs·mean(g) − xhat·rs·mean(g·xhat)
            float a = rs * sumG / n, b = rs * sumGX / n;
            var va = Vector512.Create(a);
            var vb = Vector512.Create(b);
            for (c = 0; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                var g = Vector512.Load(dy + c) * Vector512.Load(gamma + c);
                (g * vrs - va - xhat * vb).Store(dx + c);
            }
            for (; c < n; c++) dx[c] = dy[c] * gamma[c] * rs - a - (x[c] - mu) * rs * b;
        }
    }

    /// <summary>Numerically stable softmax of each row, in place.</summary>
    public static void SoftmaxRows(Span<float> x, int rows, int cols) => ScaledMaskedSoftmax(x, rows, cols, 1, default);

    /// <summary>
    /// Attention's softmax, in place: x[r, c] = softmax over c of (scale · x[r, c] + mask[c]), where
    /// mask (length cols, or empty for none) is the additive key mask shared by every row
    /// (0 for real keys, a large negative number or −∞ for padding).
    /// </summary>
    public static void ScaledMaskedSoftmax(Span<float> x, int rows, int cols, float scale, ReadOnlySpan<float> mask)
    {
        Need(x.Length, rows, cols, nameof(x));
        if (!mask.IsEmpty) Need(mask.Length, 1, cols, nameof(mask));
        fixed (float* px = x, pm = mask)
        {
            var job = new RowJob { X = px, Y = mask.IsEmpty ? null : pm, Cols = cols, F0 = scale };
            RowParallel.For(rows, cols, ref job, &SoftmaxRowsRange);
        }
    }

    private static void SoftmaxRowsRange(ref RowJob j, int chunk, int r0, int r1)
    {
        for (int r = r0; r < r1; r++) SoftmaxRow(j.X + (long)r * j.Cols, j.Cols, j.F0, j.Y);
    }

    /// <summary>
    /// Attention's softmax with bf16 output (the next product's operand), for rows × n scores with
    /// keys real keys per row: dst[r, ..keys] = softmax(scale·x[r, ..keys]) rounded to bf16, and
    /// dst[r, keys..n] = 0 (padded keys); x is overwritten. scale must be positive (it is 1/√headDim),
    /// so a row's maximum is taken unscaled.
    /// </summary>
    /// <remarks>
    /// Runs in phases over 32 rows at a time (maxima, exponentials and sums, normalise and round), so
    /// that one row's chain of reductions overlaps the next row's work instead of stalling on it; the
    /// exponential is <see cref="ExpCoarse"/>, whose error is a sixtieth of the bf16 rounding step after it.
    /// </remarks>
    internal static void SoftmaxRowsToBf16(float* x, int rows, int keys, int n, float scale, ushort* dst)
    {
        const int Chunk = 32;
        float* stat = stackalloc float[Chunk];
        int end = VectorEnd(keys);
        var vs = Vector512.Create(scale);
        for (int r0 = 0; r0 < rows; r0 += Chunk)
        {
            int count = Math.Min(Chunk, rows - r0);
            for (int i = 0; i < count; i++)
            {
                float* row = x + (long)(r0 + i) * n;
                var vmax = Vector512.Create(float.NegativeInfinity);
                int c = 0;
                for (; c < end; c += 16) vmax = Vector512.Max(vmax, Vector512.Load(row + c));
                float max = end > 0 ? HorizontalMax(vmax) : float.NegativeInfinity;
                for (; c < keys; c++) max = Math.Max(max, row[c]);
                stat[i] = -scale * max;
            }
            for (int i = 0; i < count; i++)
            {
                float* row = x + (long)(r0 + i) * n;
                float shift = stat[i];
                var vshift = Vector512.Create(shift);
                var acc = Vector512<float>.Zero;
                int c = 0;
                for (; c < end; c += 16)
                {
                    var e = ExpCoarse(Vector512.FusedMultiplyAdd(Vector512.Load(row + c), vs, vshift));
                    e.Store(row + c);
                    acc += e;
                }
                float sum = Vector512.Sum(acc);
                for (; c < keys; c++)
                {
                    row[c] = MathF.Exp(MathF.FusedMultiplyAdd(row[c], scale, shift));
                    sum += row[c];
                }
                stat[i] = 1 / sum;
            }
            for (int i = 0; i < count; i++)
            {
                long at = (long)(r0 + i) * n;
                float* row = x + at;
                ushort* d = dst + at;
                float inv = stat[i];
                var vinv = Vector512.Create(inv);
                int c = 0;
                for (; c < end; c += 16) Bf16.Round(Vector512.Load(row + c) * vinv).Store(d + c);
                for (; c < keys; c++) d[c] = Bf16.Round(row[c] * inv);
                new Span<ushort>(d + keys, n - keys).Clear();
            }
        }
    }

    /// <summary>row ← softmax(scale·row + mask) over n values; mask may be null.</summary>
    internal static void SoftmaxRow(float* row, int n, float scale, float* mask)
    {
        int end = VectorEnd(n), c = 0;
        var vs = Vector512.Create(scale);
        var vmax = Vector512.Create(float.NegativeInfinity);
        if (scale != 1 || mask != null)
        {
            for (; c < end; c += 16)
            {
                var v = Vector512.Load(row + c) * vs;
                if (mask != null) v += Vector512.Load(mask + c);
                v.Store(row + c);
                vmax = Vector512.Max(vmax, v);
            }
            for (; c < n; c++) row[c] = row[c] * scale + (mask != null ? mask[c] : 0);
        }
        else
        {
            for (; c < end; c += 16) vmax = Vector512.Max(vmax, Vector512.Load(row + c));
        }
        float max = end > 0 ? HorizontalMax(vmax) : float.NegativeInfinity;
        for (c = end; c < n; c++) max = Math.Max(max, row[c]);
        var vm = Vector512.Create(max);
        var acc = Vector512<float>.Zero;
        for (c = 0; c < end; c += 16)
        {
            var e = Exp(Vector512.Load(row + c) - vm);
            e.Store(row + c);
            acc += e;
        }
        double sum = Vector512.Sum(acc);
        for (; c < n; c++)
        {
            row[c] = MathF.Exp(row[c] - max);
            sum += row[c];
        }
        float inv = (float)(1 / sum);
        var vinv = Vector512.Create(inv);
        for (c = 0; c < end; c += 16) (Vector512.Load(row + c) * vinv).Store(row + c);
        for (; c < n; c++) row[c] *= inv;
    }

    private static float HorizontalMax(Vector512<float> v)
    {
        var m = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(m.GetLower(), m.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        return Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    /// <summary>dx = y ⊙ (dy − Σ dy·y) per row, from the softmax output y. dx may alias dy.</summary>
    public static void SoftmaxRowsBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols)
    {
        Need(y.Length, rows, cols, nameof(y));
        Need(dy.Length, rows, cols, nameof(dy));
        Need(dx.Length, rows, cols, nameof(dx));
        fixed (float* py = y, pdy = dy, pdx = dx)
        {
            var job = new RowJob { X = py, Y = pdy, Z = pdx, Cols = cols, F0 = 1 };
            RowParallel.For(rows, cols, ref job, &SoftmaxBackwardRows);
        }
    }

    private static void SoftmaxBackwardRows(ref RowJob j, int chunk, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * j.Cols;
            SoftmaxBackwardRow(j.X + o, j.Y + o, j.Z + o, j.Cols, j.F0);
        }
    }

    /// <summary>dx = scale · y ⊙ (dy − Σ dy·y) over n values; dx may alias dy.</summary>
    internal static void SoftmaxBackwardRow(float* y, float* dy, float* dx, int n, float scale)
    {
        int end = VectorEnd(n), c = 0;
        var acc = Vector512<float>.Zero;
        for (; c < end; c += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(dy + c), Vector512.Load(y + c), acc);
        float dot = Vector512.Sum(acc);
        for (; c < n; c++) dot += dy[c] * y[c];
        var vdot = Vector512.Create(dot);
        var vs = Vector512.Create(scale);
        for (c = 0; c < end; c += 16) (Vector512.Load(y + c) * (Vector512.Load(dy + c) - vdot) * vs).Store(dx + c);
        for (; c < n; c++) dx[c] = y[c] * (dy[c] - dot) * scale;
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
            int n = x.Length, end = VectorEnd(n), i = 0;
            for (; i < end; i += 16)
            {
                var v = Vector512.Load(px + i);
                var e = Vector512<float>.One - Erfc(Vector512.Abs(v));
                Vector512.ConditionalSelect(Vector512.Create(-0.0f), v, e).Store(py + i);
            }
            for (; i < n; i++) py[i] = MathF.CopySign(1 - Erfc(MathF.Abs(px[i])), px[i]);
        }
    }

    // erfc(z) for z ≥ 0: t·exp(−z² + P(t)), t = 1/(1 + z/2), relative error below 1.2e-7.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Erfc(Vector512<float> z)
    {
        var t = Vector512<float>.One / Vector512.FusedMultiplyAdd(z, Vector512.Create(0.5f), Vector512<float>.One);
        var p = Vector512.Create(0.17087277f);
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(-0.82215223f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(1.48851587f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(-1.13520398f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(0.27886807f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(-0.18628806f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(0.09678418f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(0.37409196f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(1.00002368f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(-1.26551223f));
        return t * Exp(Vector512.FusedMultiplyAdd(-z, z, p));
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
    private static Vector512<float> Cdf(Vector512<float> x)
    {
        var half = Vector512.Create(0.5f) * Erfc(Vector512.Abs(x) * Vector512.Create(InvSqrt2));
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), half, Vector512<float>.One - half);
    }

    private static float Cdf(float x)
    {
        float half = 0.5f * Erfc(MathF.Abs(x) * InvSqrt2);
        return x < 0 ? half : 1 - half;
    }

    private static void GeluSpan(float* x, float* y, int n)
    {
        int end = VectorEnd(n), i = 0;
        for (; i < end; i += 16)
        {
            var v = Vector512.Load(x + i);
            (v * Cdf(v)).Store(y + i);
        }
        for (; i < n; i++) y[i] = x[i] * Cdf(x[i]);
    }


    /// <summary>
    /// e^x in fp32 within about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor
    /// polynomial (truncation below 6e-9), times 2^n (vscalefps, which also overflows to +∞ above
    /// 88.72). Below −87.3 it returns 0 (so masked scores vanish exactly, and no denormal result
    /// costs a microcode assist); NaN passes through.
    /// </summary>
    /// <remarks>Used instead of Vector512.Exp, which measured several times slower here.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        const float Low = -87.33654f;
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(Low)), Vector512.Create(89f));
        var n = Vector512.Round(xc * Vector512.Create(1.44269504f));
        // ln2 split in two so that n·ln2Hi is exact.
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), xc);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        Vector512<float> e;
        if (Avx512F.IsSupported)
        {
            e = Avx512F.Scale(p, n);
        }
        else
        {
            e = p * Vector512.ShiftLeft(Vector512.ConvertToInt32(Vector512.Min(n, Vector512.Create(127f))) + Vector512.Create(127), 23).AsSingle();
            e = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(88.72283f)), Vector512.Create(float.PositiveInfinity), e);
        }
        e = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Low)), Vector512<float>.Zero, e);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), e, x);
    }

    /// <summary>
    /// e^x for x ≤ 0 to a relative error below 6e-5 (degree-4 Taylor polynomial of e^r, |r| ≤ ln2/2,
    /// times 2^n), for probabilities that are rounded to bf16 (relative step 2^-8) next, at half the
    /// instructions of <see cref="Exp"/>. Below −87.3 it returns e^−87.3 ≈ 1.2e-38 (negligible beside
    /// a softmax row's maximum, 1, and never a denormal). AVX-512 only.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpCoarse(Vector512<float> x)
    {
        var xc = Vector512.Max(x, Vector512.Create(-87.33654f));
        var n = Vector512.Round(xc * Vector512.Create(1.44269504f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693147181f), xc);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1f / 24), r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Avx512F.Scale(p, n);
    }

    /// <summary>dst += src.</summary>
    internal static void AddInto(ReadOnlySpan<float> src, Span<float> dst)
    {
        fixed (float* s = src, d = dst) AddTo(d, s, d, src.Length);
    }

    // z = x + y (z may alias either).
    private static void AddTo(float* x, float* y, float* z, int n)
    {
        int end = VectorEnd(n), i = 0;
        for (; i < end; i += 16) (Vector512.Load(x + i) + Vector512.Load(y + i)).Store(z + i);
        for (; i < n; i++) z[i] = x[i] + y[i];
    }

    private static float Sum(float* x, int n)
    {
        int end = VectorEnd(n), i = 0;
        var acc = Vector512<float>.Zero;
        for (; i < end; i += 16) acc += Vector512.Load(x + i);
        float s = Vector512.Sum(acc);
        for (; i < n; i++) s += x[i];
        return s;
    }

    internal static void Need(int length, int rows, int cols, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        long need = (long)rows * cols;
        if (length < need)
            throw new ArgumentException($"{name} holds {length} values but [{rows}, {cols}] needs {need}", name);
    }
}
