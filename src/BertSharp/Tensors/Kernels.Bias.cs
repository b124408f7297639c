using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

// Bias gradients: column sums of dy, optionally through a mask (dropout, GELU′).
internal static unsafe partial class Kernels
{
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
}
