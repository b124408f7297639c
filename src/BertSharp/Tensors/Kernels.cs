using System.Runtime.Intrinsics;

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
internal static unsafe partial class Kernels
{
    private static int VectorEnd(int n) => Vector512.IsHardwareAccelerated ? n & ~15 : 0;

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
