using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Inverted dropout with a counter-based generator: element i of a call keyed k is kept when
/// hash(k, i) ≥ p. Masks are thus a pure function of (seed, call number, index), identical whatever
/// the thread count, and are saved as 0 or 1/(1−p) so that backward is one multiply.
/// </summary>
internal static class Dropout
{
    private const int ParallelChunk = 1 << 15;

    /// <summary>y = x ⊙ mask for x, y, mask of equal length; <paramref name="offset"/> is the index of x[0] in the call.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mask, float p, ulong key, long offset)
    {
        float scale = 1f / (1f - p);
        int i = 0;
        if (Vector512.IsHardwareAccelerated && Avx512DQ.IsSupported)
        {
            x = x[..y.Length];
            mask = mask[..y.Length];
            // The same hash 16 lanes at a time (64-bit multiplies are AVX-512DQ's vpmullq): bit-identical masks.
            var step = Vector512.Create(0x9E3779B97F4A7C15UL);
            var lanes = Vector512.Create(0UL, 1, 2, 3, 4, 5, 6, 7);
            var vkey = Vector512.Create(key);
            var vp = Vector512.Create(p);
            var vscale = Vector512.Create(scale);
            for (; i + 16 <= y.Length; i += 16)
            {
                var index = Vector512.Create((ulong)(offset + i)) + lanes;
                var lo = Mix(vkey + index * step) >> 40;
                var hi = Mix(vkey + (index + Vector512.Create(8UL)) * step) >> 40;
                var u = Vector512.ConvertToSingle(Vector512.Narrow(lo, hi)) * Vector512.Create(1f / (1 << 24));
                var m = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(u, vp), vscale, Vector512<float>.Zero);
                m.StoreUnsafe(ref mask[i]);
                (Vector512.LoadUnsafe(in x[i]) * m).StoreUnsafe(ref y[i]);
            }
        }
        for (; i < y.Length; i++)
        {
            float m = Uniform(key, offset + i) >= p ? scale : 0f;
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }

    /// <summary>x[..length] ⊙= mask, in parallel chunks on the worker pool for large activations.</summary>
    public static void ForwardInPlace(float[] x, float[] mask, int length, float p, ulong key)
    {
        int chunks = (length + ParallelChunk - 1) / ParallelChunk;
        if (chunks <= 1)
        {
            Forward(x.AsSpan(0, length), x.AsSpan(0, length), mask.AsSpan(0, length), p, key, 0);
            return;
        }
        var r = runner ??= new Runner();
        (r.X, r.Mask, r.Length, r.P, r.Key) = (x, mask, length, p, key);
        try
        {
            WorkerPool.For(chunks, Gemm.MaxThreads, r.Body);
        }
        finally
        {
            (r.X, r.Mask) = ([], []);
        }
    }

    [ThreadStatic] private static Runner? runner;

    // One per calling thread, its delegate made once, so a warm call allocates nothing.
    private sealed class Runner
    {
        public readonly Action<int> Body;
        public float[] X = [], Mask = [];
        public int Length;
        public float P;
        public ulong Key;

        public Runner() => Body = Chunk;

        private void Chunk(int c)
        {
            int start = c * ParallelChunk, n = Math.Min(ParallelChunk, Length - start);
            Forward(X.AsSpan(start, n), X.AsSpan(start, n), Mask.AsSpan(start, n), P, Key, start);
        }
    }

    /// <summary>dx = dy ⊙ mask; dx may alias dy.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx) => VectorOps.Multiply(dy, mask, dx);

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
