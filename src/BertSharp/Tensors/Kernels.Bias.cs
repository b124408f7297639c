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
            RowParallel.ForAccumulating(rows, cols, ref job, ForWidth(&BiasBackwardRows<Vec512>, &BiasBackwardRows<Vec256>, &BiasBackwardRows<Vec128>));
        }
    }

    private static void BiasBackwardRows<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        float* target = j.G0 + chunk * j.GStride;
        for (int r = r0; r < r1; r++) AddTo<V>(target, j.X + (long)r * j.Cols, target, j.Cols);
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
            RowParallel.ForAccumulating(rows, cols, ref job, ForWidth(&MaskBiasBackwardRows<Vec512>, &MaskBiasBackwardRows<Vec256>, &MaskBiasBackwardRows<Vec128>));
        }
    }

    private static void MaskBiasBackwardRows<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        float* target = j.G0 + chunk * j.GStride;
        int cols = j.Cols, end = VectorEnd<V>(cols);
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * cols;
            float* dy = j.X + o, m = j.Y + o, dx = j.Z + o;
            int c = 0;
            for (; c < end; c += V.Count)
            {
                var v = V.Load(dy + c) * V.Load(m + c);
                V.Store(v, dx + c);
                V.Store(V.Load(target + c) + v, target + c);
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
