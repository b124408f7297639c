using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

// Row softmax (plain, attention's scaled/masked, bf16-rounding) and its backward.
internal static unsafe partial class Kernels
{
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
            RowParallel.For(rows, cols, ref job, ForWidth(&SoftmaxRowsRange<Vec512>, &SoftmaxRowsRange<Vec256>, &SoftmaxRowsRange<Vec128>));
        }
    }

    private static void SoftmaxRowsRange<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        for (int r = r0; r < r1; r++) SoftmaxRow<V>(j.X + (long)r * j.Cols, j.Cols, j.F0, j.Y);
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
        // ExpCoarse and the bf16 rounding are AVX-512's (the bf16 provider's CPUs); elsewhere the scalar loops do it all.
        int end = Avx512F.IsSupported ? keys & ~15 : 0;
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
                float max = end > 0 ? Vec512.MaxAcross(new Vec512(vmax)) : float.NegativeInfinity;
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
        switch (Simd.Lanes)
        {
            case Simd.Width.V512: SoftmaxRow<Vec512>(row, n, scale, mask); break;
            case Simd.Width.V256: SoftmaxRow<Vec256>(row, n, scale, mask); break;
            default: SoftmaxRow<Vec128>(row, n, scale, mask); break;
        }
    }

    internal static void SoftmaxRow<V>(float* row, int n, float scale, float* mask) where V : unmanaged, IVec<V>
    {
        int end = VectorEnd<V>(n), c = 0;
        var vs = V.Create(scale);
        var vmax = V.Create(float.NegativeInfinity);
        if (scale != 1 || mask != null)
        {
            for (; c < end; c += V.Count)
            {
                var v = V.Load(row + c) * vs;
                if (mask != null) v += V.Load(mask + c);
                V.Store(v, row + c);
                vmax = V.Max(vmax, v);
            }
            for (; c < n; c++) row[c] = row[c] * scale + (mask != null ? mask[c] : 0);
        }
        else
        {
            for (; c < end; c += V.Count) vmax = V.Max(vmax, V.Load(row + c));
        }
        float max = end > 0 ? V.MaxAcross(vmax) : float.NegativeInfinity;
        for (c = end; c < n; c++) max = Math.Max(max, row[c]);
        // Register i of the row adds into the pair's low half when i is even, its high half when odd (the one register
        // past the pairs is even), and the lanes are reduced once at the end: each register's place in the sum depends
        // on its index alone, not on where the pairs stop.
        int pairs = end & ~(2 * V.Count - 1);
        var acc = ExpShifted<Pair<V>>(row, pairs, max);
        var lo = end > pairs ? acc.Lo + ExpShifted<V>(row + pairs, end - pairs, max) : acc.Lo;
        double sum = V.Sum(lo + acc.Hi);
        for (c = end; c < n; c++)
        {
            row[c] = MathF.Exp(row[c] - max);
            sum += row[c];
        }
        float inv = (float)(1 / sum);
        var vinv = V.Create(inv);
        for (c = 0; c < end; c += V.Count) V.Store(V.Load(row + c) * vinv, row + c);
        for (; c < n; c++) row[c] *= inv;
    }

    // row[..count] ← e^(row − max) (count: whole registers); returns their sums by lane. Two registers in lock step
    // (see Pair) overlap two exponentials' chains: 8 % faster than one at a time.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static W ExpShifted<W>(float* row, int count, float max) where W : unmanaged, IVec<W>
    {
        var vm = W.Create(max);
        var acc = W.Zero;
        for (int c = 0; c < count; c += W.Count)
        {
            var e = ExpNonPositive(W.Load(row + c) - vm);
            W.Store(e, row + c);
            acc += e;
        }
        return acc;
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
            RowParallel.For(rows, cols, ref job, ForWidth(&SoftmaxBackwardRows<Vec512>, &SoftmaxBackwardRows<Vec256>, &SoftmaxBackwardRows<Vec128>));
        }
    }

    private static void SoftmaxBackwardRows<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * j.Cols;
            SoftmaxBackwardRow<V>(j.X + o, j.Y + o, j.Z + o, j.Cols, j.F0);
        }
    }

    /// <summary>dx = scale · y ⊙ (dy − Σ dy·y) over n values; dx may alias dy.</summary>
    internal static void SoftmaxBackwardRow(float* y, float* dy, float* dx, int n, float scale)
    {
        switch (Simd.Lanes)
        {
            case Simd.Width.V512: SoftmaxBackwardRow<Vec512>(y, dy, dx, n, scale); break;
            case Simd.Width.V256: SoftmaxBackwardRow<Vec256>(y, dy, dx, n, scale); break;
            default: SoftmaxBackwardRow<Vec128>(y, dy, dx, n, scale); break;
        }
    }

    internal static void SoftmaxBackwardRow<V>(float* y, float* dy, float* dx, int n, float scale) where V : unmanaged, IVec<V>
    {
        int end = VectorEnd<V>(n), c = 0;
        var acc = V.Zero;
        for (; c < end; c += V.Count) acc = V.MultiplyAdd(V.Load(dy + c), V.Load(y + c), acc);
        float dot = V.Sum(acc);
        for (; c < n; c++) dot += dy[c] * y[c];
        var vdot = V.Create(dot);
        var vs = V.Create(scale);
        for (c = 0; c < end; c += V.Count) V.Store(V.Load(y + c) * (V.Load(dy + c) - vdot) * vs, dx + c);
        for (; c < n; c++) dx[c] = y[c] * (dy[c] - dot) * scale;
    }
}
