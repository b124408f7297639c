using System.Numerics;
using System.Runtime.InteropServices;

namespace BertSharp.Model;

/// <summary>The few element-wise loops the encoder needs beyond the Tensors kernels (residuals, masks, tanh).</summary>
internal static class VectorOps
{
    /// <summary>dst += src.</summary>
    public static void AddInPlace(Span<float> dst, ReadOnlySpan<float> src)
    {
        src = src[..dst.Length];
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var d = MemoryMarshal.Cast<float, Vector<float>>(dst);
            var s = MemoryMarshal.Cast<float, Vector<float>>(src);
            for (int j = 0; j < d.Length; j++) d[j] += s[j];
            i = d.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] += src[i];
    }

    /// <summary>dst = a ⊙ b; dst may alias a or b.</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        a = a[..dst.Length];
        b = b[..dst.Length];
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(dst);
            for (int j = 0; j < vd.Length; j++) vd[j] = va[j] * vb[j];
            i = vd.Length * Vector<float>.Count;
        }
        for (; i < dst.Length; i++) dst[i] = a[i] * b[i];
    }

    /// <summary>y = tanh(x), in place allowed.</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < y.Length; i++) y[i] = MathF.Tanh(x[i]);
    }

    /// <summary>dx = dy ⊙ (1 − y²) from the tanh output y; dx may alias dy.</summary>
    public static void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < dx.Length; i++) dx[i] = dy[i] * (1f - y[i] * y[i]);
    }
}
