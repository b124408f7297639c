namespace BertSharp.Tensors;

/// <summary>
/// Fused element-wise and row-wise kernels used by the encoder, each with its backward pass.
/// Matrices are row-major [rows, cols]. Backward kernels that produce parameter gradients
/// accumulate (+=) into them, so gradients of shared weights add up across calls.
/// </summary>
/// <remarks>
/// Rows are vectorised at the CPU's width (<see cref="IVec{TSelf}"/>: 16 lanes on AVX-512, 8 on
/// AVX2, 4 on SSE or Neon; a scalar loop takes the tail) and split across <see cref="Gemm.MaxThreads"/> threads when a
/// call touches more than about 64K elements. Spans shorter than rows × cols throw an
/// ArgumentException naming the tensor. Serial calls allocate nothing.
/// </remarks>
internal static unsafe partial class Kernels
{
    // Where the whole vectors of an n-long row end (V.Count is a power of two).
    private static int VectorEnd<V>(int n) where V : unmanaged, IVec<V> => n & ~(V.Count - 1);

    // A row kernel's instantiation for the vector width in use.
    private static delegate*<ref RowJob, int, int, int, void> ForWidth(
        delegate*<ref RowJob, int, int, int, void> v512,
        delegate*<ref RowJob, int, int, int, void> v256,
        delegate*<ref RowJob, int, int, int, void> v128) =>
        Simd.Lanes switch { Simd.Width.V512 => v512, Simd.Width.V256 => v256, _ => v128 };

    /// <summary>dst += src.</summary>
    internal static void AddInto(ReadOnlySpan<float> src, Span<float> dst)
    {
        fixed (float* s = src, d = dst)
        {
            switch (Simd.Lanes)
            {
                case Simd.Width.V512: AddTo<Vec512>(d, s, d, src.Length); break;
                case Simd.Width.V256: AddTo<Vec256>(d, s, d, src.Length); break;
                default: AddTo<Vec128>(d, s, d, src.Length); break;
            }
        }
    }

    // z = x + y (z may alias either).
    private static void AddTo<V>(float* x, float* y, float* z, int n) where V : unmanaged, IVec<V>
    {
        int end = VectorEnd<V>(n), i = 0;
        for (; i < end; i += V.Count) V.Store(V.Load(x + i) + V.Load(y + i), z + i);
        for (; i < n; i++) z[i] = x[i] + y[i];
    }

    private static float Sum<V>(float* x, int n) where V : unmanaged, IVec<V>
    {
        int end = VectorEnd<V>(n), i = 0;
        var acc = V.Zero;
        for (; i < end; i += V.Count) acc += V.Load(x + i);
        float s = V.Sum(acc);
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
