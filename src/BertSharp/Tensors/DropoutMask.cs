using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// The counter-based dropout mask: element i of a call keyed k is kept when hash(k, i) ≥ p, and a
/// mask value is 0 or 1/(1−p). A mask is a pure function of (key, index), so kernels can rebuild
/// it where they need it (attention's backward) instead of storing it, and every thread count
/// gives the same bits.
/// </summary>
internal static unsafe class DropoutMask
{
    /// <summary>mask[i] = 0 or 1/(1−p) for element index offset + i of the call keyed <paramref name="key"/>.</summary>
    public static void Fill(Span<float> mask, float p, ulong key, long offset)
    {
        fixed (float* m = mask) Fill(m, mask.Length, p, key, offset);
    }

    internal static void Fill(float* mask, int n, float p, ulong key, long offset)
    {
        float scale = 1f / (1f - p);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Avx512DQ.IsSupported)
        {
            // The same hash 16 lanes at a time (64-bit multiplies are AVX-512DQ's vpmullq): bit-identical masks.
            var step = Vector512.Create(0x9E3779B97F4A7C15UL);
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
            var vkey = Vector512.Create(key);
            var vp = Vector512.Create(p);
            var vscale = Vector512.Create(scale);
            for (; i + 16 <= n; i += 16)
            {
                var index = Vector512.Create((ulong)(offset + i)) + lanes;
                var lo = Mix(vkey + index * step) >> 40;
                var hi = Mix(vkey + (index + Vector512.Create(8UL)) * step) >> 40;
                var u = Vector512.ConvertToSingle(Vector512.Narrow(lo, hi)) * Vector512.Create(1f / (1 << 24));
                Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(u, vp), vscale, Vector512<float>.Zero).Store(mask + i);
            }
        }
        for (; i < n; i++) mask[i] = Uniform(key, offset + i) >= p ? scale : 0f;
    }

    /// <summary>A uniform number in [0, 1) with 24 random bits, from (key, index) alone.</summary>
    public static float Uniform(ulong key, long index) =>
        (Mix(key + (ulong)index * 0x9E3779B97F4A7C15UL) >> 40) * (1f / (1 << 24));

    private static Vector512<ulong> Mix(Vector512<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector512.Create(0xBF58476D1CE4E5B9UL);
        z = (z ^ (z >> 27)) * Vector512.Create(0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    // SplitMix64's finaliser: a bijection with full avalanche, so consecutive indices give independent bits.
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
