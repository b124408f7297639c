using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Inverted dropout with the counter-based <see cref="DropoutMask"/>: masks are a pure function of
/// (seed, call number, index), identical whatever the thread count, and are saved as 0 or 1/(1−p)
/// so that backward is one multiply.
/// </summary>
internal static class Dropout
{
    private const int ParallelChunk = 1 << 15;

    /// <summary>y = x ⊙ mask for x, y, mask of equal length; <paramref name="offset"/> is the index of x[0] in the call.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mask, float p, ulong key, long offset)
    {
        mask = mask[..y.Length];
        DropoutMask.Fill(mask, p, key, offset);
        VectorOps.Multiply(x[..y.Length], mask, y);
    }

    /// <summary>x[..length] ⊙= mask, in parallel chunks on the worker pool for large activations; <paramref name="offset"/> is the index of x[0] in the call.</summary>
    public static void ForwardInPlace(float[] x, float[] mask, int length, float p, ulong key, long offset)
    {
        int chunks = (length + ParallelChunk - 1) / ParallelChunk;
        if (chunks <= 1)
        {
            Forward(x.AsSpan(0, length), x.AsSpan(0, length), mask.AsSpan(0, length), p, key, offset);
            return;
        }
        var r = runner ??= new Runner();
        (r.X, r.Mask, r.Length, r.P, r.Key, r.Offset) = (x, mask, length, p, key, offset);
        try
        {
            WorkerPool.For(chunks, WorkerPool.Threads(length, ParallelChunk), r.Body);
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
        public long Offset;

        public Runner() => Body = Chunk;

        private void Chunk(int c)
        {
            int start = c * ParallelChunk, n = Math.Min(ParallelChunk, Length - start);
            Forward(X.AsSpan(start, n), X.AsSpan(start, n), Mask.AsSpan(start, n), P, Key, Offset + start);
        }
    }

    /// <summary>dx = dy ⊙ mask; dx may alias dy.</summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> mask, Span<float> dx) => VectorOps.Multiply(dy, mask, dx);

    /// <summary>A uniform number in [0, 1) with 24 random bits, from (key, index) alone.</summary>
    public static float Uniform(ulong key, long index) => DropoutMask.Uniform(key, index);

    internal static ulong Mix(ulong z) => DropoutMask.Mix(z);
}
