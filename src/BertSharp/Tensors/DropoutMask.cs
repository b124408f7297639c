using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

/// <summary>
/// The counter-based dropout mask: element i of a call keyed k is kept when hash(k, i) ≥ p, and a
/// mask value is 0 or 1/(1−p). A mask is a pure function of (key, index), so kernels can rebuild
/// it where they need it (attention's backward) instead of storing it, and every thread count
/// gives the same bits.
/// </summary>
/// <remarks>
/// The hash is a 32-bit one (Wellons' lowbias32 of the index xor a seed from the key and the index's
/// upper half), so that 16 lanes use AVX-512's cheap 32-bit multiplies: a training step fills tens of
/// millions of mask values, and SplitMix64's 64-bit multiplies made that a tenth of the step.
/// </remarks>
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
        if (Vector512.IsHardwareAccelerated)
        {
            // The same hash 16 lanes at a time: bit-identical masks.
            var lanes = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var vp = Vector512.Create(p);
            var vscale = Vector512.Create(scale);
            for (; i + 16 <= n; i += 16)
            {
                long first = offset + i;
                if ((first >> 32) != ((first + 15) >> 32)) break;   // a vector across 2^32: the scalar loop takes it from here
                var x = Vector512.Create((uint)first) + lanes ^ Vector512.Create(Seed(key, first));
                x = (x ^ (x >> 16)) * Vector512.Create(0x7FEB352Du);
                x = (x ^ (x >> 15)) * Vector512.Create(0x846CA68Bu);
                x ^= x >> 16;
                var u = Vector512.ConvertToSingle((x >> 8).AsInt32()) * Vector512.Create(1f / (1 << 24));
                Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(u, vp), vscale, Vector512<float>.Zero).Store(mask + i);
            }
        }
        for (; i < n; i++) mask[i] = Uniform(key, offset + i) >= p ? scale : 0f;
    }

    /// <summary>A uniform number in [0, 1) with 24 random bits, from (key, index) alone.</summary>
    public static float Uniform(ulong key, long index)
    {
        uint x = (uint)index ^ Seed(key, index);
        x = (x ^ (x >> 16)) * 0x7FEB352Du;
        x = (x ^ (x >> 15)) * 0x846CA68Bu;
        x ^= x >> 16;
        return (x >> 8) * (1f / (1 << 24));
    }

    // The 32-bit seed of the call's key for indices that share index's upper 32 bits.
    private static uint Seed(ulong key, long index) => (uint)Mix(key + (ulong)(index >> 32) * 0x9E3779B97F4A7C15UL);

    // SplitMix64's finaliser: a bijection with full avalanche, so nearby keys give unrelated seeds.
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
