using System.Buffers;

namespace BertSharp.Tensors;

/// <summary>
/// Pointers and scalars of one row-wise kernel call, so the row loop can be a static function
/// run serially or split across threads without a closure (no allocation on the serial path).
/// </summary>
internal unsafe struct RowJob
{
    public float* X, Y, Z, W, U, V, S, T;
    public int Cols;
    public float F0, F1;

    // Column accumulators (dBias, dGamma, dBeta): chunk c adds into G0 + c·GStride (and G1 …),
    // which is the caller's buffer when serial and a zeroed per-chunk partial when parallel.
    public float* G0, G1;
    public int GStride;
}

/// <summary>Runs a row-range function over [0, rows), splitting rows across threads when large.</summary>
internal static unsafe class RowParallel
{
    // A thread's share should be at least about 32K elements: below twice that a row kernel
    // finishes faster than a fork/join round trip.
    private const long GrainElements = 1 << 15;

    // Column sums split into at most this many row blocks: enough for 16 cores, and the partials
    // (2 × blocks × cols floats) stay small.
    private const int MaxAccumulationBlocks = 16;

    public static int Chunks(int rows, int cols) => Math.Min(Math.Max(rows, 1), WorkerPool.Threads((long)rows * cols, GrainElements));

    /// <summary>body(job, chunk, r0, r1) for contiguous row ranges.</summary>
    public static void For(int rows, int cols, ref RowJob job, delegate*<ref RowJob, int, int, int, void> body)
    {
        int chunks = Chunks(rows, cols);
        if (chunks <= 1)
        {
            if (rows > 0) body(ref job, 0, 0, rows);
            return;
        }
        ForParallel(rows, chunks, chunks, job, (nint)body);
    }

    /// <summary>
    /// Like <see cref="For"/> for kernels that also accumulate column sums into job.G0/G1 (each
    /// `cols` long): row blocks add into pooled partials, summed into the targets in block order.
    /// </summary>
    /// <remarks>
    /// The blocks follow from the shape alone, never from the threads at hand: a gradient's bits then
    /// do not depend on <see cref="Gemm.MaxThreads"/> or on whether the CPU is contended (the pool
    /// goes to one thread under load mid-run, and a run's second step differed from the first's).
    /// </remarks>
    public static void ForAccumulating(int rows, int cols, ref RowJob job, delegate*<ref RowJob, int, int, int, void> body)
    {
        int chunks = (int)Math.Clamp((long)rows * cols / GrainElements, 1, Math.Min(Math.Max(rows, 1), MaxAccumulationBlocks));
        if (chunks <= 1)
        {
            job.GStride = 0;
            if (rows > 0) body(ref job, 0, 0, rows);
            return;
        }
        float* g0 = job.G0, g1 = job.G1;
        int width = 2 * chunks * cols;
        var partial = ArrayPool<float>.Shared.Rent(width);
        try
        {
            fixed (float* p = partial)
            {
                new Span<float>(p, width).Clear();
                var local = job;
                local.G0 = p;
                local.G1 = p + chunks * cols;
                local.GStride = cols;
                ForParallel(rows, chunks, Math.Min(chunks, Chunks(rows, cols)), local, (nint)body);
                for (int c = 0; c < chunks; c++)
                {
                    Kernels.AddInto(new ReadOnlySpan<float>(p + c * cols, cols), new Span<float>(g0, cols));
                    if (g1 != null)
                        Kernels.AddInto(new ReadOnlySpan<float>(p + (chunks + c) * cols, cols), new Span<float>(g1, cols));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }
    }

    [ThreadStatic] private static Runner? runner;

    private static void ForParallel(int rows, int chunks, int threads, RowJob job, nint body)
    {
        var r = runner ??= new Runner();
        (r.Job, r.Rows, r.Chunks, r.Fn) = (job, rows, chunks, body);
        WorkerPool.For(chunks, threads, r.Body);
    }

    // Per calling thread, so concurrent callers never share one.
    private sealed class Runner
    {
        public readonly Action<int> Body;
        public RowJob Job;
        public int Rows, Chunks;
        public nint Fn;

        public Runner() => Body = Run;

        private void Run(int c)
        {
            var local = Job;
            int r0 = (int)((long)Rows * c / Chunks), r1 = (int)((long)Rows * (c + 1) / Chunks);
            ((delegate*<ref RowJob, int, int, int, void>)Fn)(ref local, c, r0, r1);
        }
    }
}
