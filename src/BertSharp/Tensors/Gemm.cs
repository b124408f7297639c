using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Row-major single-precision matrix multiply with BLAS sgemm semantics:
/// C = alpha * op(A) * op(B) + beta * C, where op(A) is [m,k] and op(B) is [k,n].
/// A is stored [m,k] (lda ≥ k) or, when transA, [k,m] (lda ≥ m); B likewise.
/// Leading dimensions let callers address one attention head inside a [tokens, hidden] buffer.
/// When beta is 0, C is overwritten without being read (NaN in C does not leak through).
/// </summary>
/// <remarks>
/// Goto/BLIS structure: op(B) is packed into KC×NR slivers, op(A) into MR×KC slivers per MC block,
/// and a register-tiled microkernel (AVX-512 12×32, else AVX2/FMA, else scalar) accumulates each
/// MR×NR tile over KC. Work is split over (MC block, group of B slivers) tasks across
/// <see cref="MaxThreads"/> threads; problems under about 4 MFLOP run on the calling thread so that
/// callers can parallelise over many small GEMMs (attention heads) themselves.
/// Packing buffers are per thread and reused, so a warm call allocates no packing memory.
/// </remarks>
internal static unsafe class Gemm
{
    internal const int MR = 12, NR = 32;

    // KC×NR floats of B (32 KiB) stay in the 48 KiB L1d while the A sliver streams past; an MC×KC
    // block of A (192 KiB) stays in the 2 MiB L2; an NC-wide B panel (3 MiB) lives in L3.
    internal const int KC = 256, MC = 192, NC = 3072;

    /// <summary>
    /// The cost model's grain for products: a thread's share should be at least this many flops
    /// (about 50 µs here) to repay waking it, so a product under twice this runs on its caller.
    /// </summary>
    internal const long ParallelGrainFlops = 1L << 21;

    internal enum Isa { Scalar, Avx2, Avx512 }

    /// <summary>
    /// Whether B's slivers are packed as two 16-column halves, each kc × 16 contiguous, rather than kc rows of 32:
    /// for the AVX2 kernel, which reads one half at a time. Contiguous halves leave a sliver's lines spread over
    /// every L1 set instead of every other one, so a 32 KiB L1 keeps the half for the next row strip; products
    /// of the pass's shapes run 1–8 % faster on one AVX2 core.
    /// </summary>
    internal static bool HalfSlivers => Path == Isa.Avx2;

    /// <summary>The microkernel in use; tests switch it to cover every fallback on one machine.</summary>
    internal static Isa Path { get; set; } = DetectIsa();

    private static int maxThreads = Environment.ProcessorCount;

    /// <summary>Most threads one call uses (default: all cores). Benchmarks set it to 1 or 2.</summary>
    internal static int MaxThreads
    {
        get => maxThreads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(MaxThreads));
            maxThreads = value;
        }
    }

    // Set while a thread runs one of many independent GEMMs, so that the inner GEMM stays serial.
    [ThreadStatic] private static bool insideBatch;
    [ThreadStatic] private static Context? threadContext;
    [ThreadStatic] private static AlignedBuffer? threadPackA, threadSharedA;
    [ThreadStatic] private static BatchJob? threadBatchJob;

    private static Isa DetectIsa() =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Isa.Avx512
        : Avx2.IsSupported && Fma.IsSupported ? Isa.Avx2
        : Isa.Scalar;

    /// <summary>C = alpha·op(A)·op(B) + beta·C (see the class summary for layouts).</summary>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc) =>
        Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, default, beta, c, ldc);

    /// <summary>
    /// C = alpha·op(A)·op(B) + bias + beta·C, where bias (length n, or empty for none) is added to
    /// every row of C as C is written: a Linear layer's y = x·Wᵀ + b without a separate bias pass.
    /// </summary>
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        float beta, Span<float> c, int ldc)
    {
        CheckDims(m, n, k);
        CheckMatrix("A", a.Length, transA ? k : m, transA ? m : k, lda);
        CheckMatrix("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        CheckMatrix("C", c.Length, m, n, ldc);
        CheckBias(bias.Length, n);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c, pbias = bias)
            Run(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, null, beta, pc, ldc, insideBatch, bias.IsEmpty ? null : pbias);
    }

    private static void CheckBias(int length, int n)
    {
        if (length != 0 && length < n)
            throw new ArgumentException($"bias holds {length} values but C has {n} columns", "bias");
    }

    /// <summary>
    /// C = alpha·op(A)·B + beta·C with B packed beforehand by <see cref="PackedMatrix.Pack"/>
    /// (op(B) is [k,n]); the same result as the unpacked overload, without re-packing B each call.
    /// Use it for weights, which are constant during inference: y = x·Wᵀ is
    /// <c>PackedMatrix.Pack(transB: true, k: in, n: out, W, ldb: in)</c>.
    /// </summary>
    public static void Multiply(
        bool transA, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        PackedMatrix b,
        float beta, Span<float> c, int ldc) =>
        Multiply(transA, m, n, k, alpha, a, lda, b, default, beta, c, ldc);

    /// <summary>
    /// C = alpha·op(A)·B + bias + beta·C with a packed B and bias (length n, or empty) added to
    /// every row as C is written: the whole Linear forward y = x·Wᵀ + b in one call; with gelu, C = GELU(that),
    /// applied by each task to its own tiles as it finishes them (in parallel, while they are still in cache).
    /// </summary>
    public static void Multiply(
        bool transA, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        PackedMatrix b, ReadOnlySpan<float> bias,
        float beta, Span<float> c, int ldc, bool gelu = false)
    {
        ArgumentNullException.ThrowIfNull(b);
        CheckDims(m, n, k);
        if (b.K != k || b.N != n)
            throw new ArgumentException($"packed B is [{b.K}, {b.N}] but the product needs [{k}, {n}]", nameof(b));
        CheckMatrix("A", a.Length, transA ? k : m, transA ? m : k, lda);
        CheckMatrix("C", c.Length, m, n, ldc);
        CheckBias(bias.Length, n);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pc = c, pbias = bias)
            Run(transA, false, m, n, k, alpha, pa, lda, null, 0, b, beta, pc, ldc, insideBatch, bias.IsEmpty ? null : pbias, gelu);
    }

    /// <summary>
    /// Many independent GEMMs of the same shape: for o in [0, outerCount), i in [0, innerCount),
    /// C(o,i) = alpha·op(A(o,i))·op(B(o,i)) + beta·C(o,i), where matrix X(o,i) starts at
    /// o·strideX.Outer + i·strideX.Inner in its span (e.g. outer = batch, inner = head, so a head of
    /// a [tokens, hidden] buffer starts at b·seq·hidden + h·headDim). The GEMMs run in parallel,
    /// each on one thread. Output matrices must not overlap.
    /// </summary>
    public static void MultiplyBatched(
        bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, BatchStrides strideA,
        ReadOnlySpan<float> b, int ldb, BatchStrides strideB,
        float beta, Span<float> c, int ldc, BatchStrides strideC,
        int outerCount, int innerCount)
    {
        CheckDims(m, n, k);
        ArgumentOutOfRangeException.ThrowIfNegative(outerCount);
        ArgumentOutOfRangeException.ThrowIfNegative(innerCount);
        CheckBatch("A", a.Length, transA ? k : m, transA ? m : k, lda, strideA, outerCount, innerCount);
        CheckBatch("B", b.Length, transB ? n : k, transB ? k : n, ldb, strideB, outerCount, innerCount);
        CheckBatch("C", c.Length, m, n, ldc, strideC, outerCount, innerCount);
        int count = outerCount * innerCount;
        if (count == 0 || m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            var job = threadBatchJob ??= new BatchJob();
            (job.TransA, job.TransB, job.M, job.N, job.K, job.Alpha, job.Beta) = (transA, transB, m, n, k, alpha, beta);
            (job.Lda, job.StrideA, job.Ldb, job.StrideB, job.Ldc, job.StrideC) = (lda, strideA, ldb, strideB, ldc, strideC);
            job.A = pa;
            job.B = pb;
            job.C = pc;
            job.InnerCount = innerCount;
            WorkerPool.For(count, insideBatch ? 1 : WorkerPool.Threads(2L * count * m * n * k, ParallelGrainFlops), job.Body);
            job.A = job.B = job.C = null;
        }
    }

    private static void CheckDims(int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
    }

    internal static void CheckMatrix(string name, int length, int rows, int cols, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException("ld" + name.ToLowerInvariant(), ld,
                $"leading dimension of {name} is smaller than its {cols} columns");
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
            throw new ArgumentException(
                $"{name} holds {length} values but a [{rows}, {cols}] matrix with leading dimension {ld} needs {need}",
                name.ToLowerInvariant());
    }

    private static void CheckBatch(string name, int length, int rows, int cols, int ld, BatchStrides s, int outer, int inner)
    {
        if (s.Outer < 0 || s.Inner < 0)
            throw new ArgumentOutOfRangeException("stride" + name, $"batch strides of {name} must not be negative");
        if (outer == 0 || inner == 0) { CheckMatrix(name, length, 0, cols, ld); return; }
        long last = (long)(outer - 1) * s.Outer + (long)(inner - 1) * s.Inner;
        long need = rows == 0 || cols == 0 ? 0 : last + (long)(rows - 1) * ld + cols;
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException("ld" + name.ToLowerInvariant(), ld,
                $"leading dimension of {name} is smaller than its {cols} columns");
        if (length < need)
            throw new ArgumentException(
                $"{name} holds {length} values but {outer}×{inner} [{rows}, {cols}] matrices with leading dimension {ld} and strides ({s.Outer}, {s.Inner}) need {need}",
                name.ToLowerInvariant());
    }

    private sealed class BatchJob
    {
        public readonly Action<int> Body;
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, InnerCount;
        public float Alpha, Beta;
        public float* A, B, C;
        public BatchStrides StrideA, StrideB, StrideC;

        public BatchJob() => Body = RunOne;

        private void RunOne(int t)
        {
            int o = t / InnerCount, i = t % InnerCount;
            bool saved = insideBatch;
            insideBatch = true;
            try
            {
                Run(TransA, TransB, M, N, K, Alpha,
                    A + StrideA.Offset(o, i), Lda, B + StrideB.Offset(o, i), Ldb, null,
                    Beta, C + StrideC.Offset(o, i), Ldc, serial: true);
            }
            finally
            {
                insideBatch = saved;
            }
        }
    }

    /// <summary>The whole algorithm on raw pointers; exactly one of b and packed is set.</summary>
    internal static void Run(
        bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, PackedMatrix? packed,
        float beta, float* c, int ldc, bool serial, float* bias = null, bool gelu = false)
    {
        if (gelu && packed is null) throw new ArgumentException("the GELU epilogue needs a packed B", nameof(gelu));
        if (k == 0)
        {
            ScaleC(m, n, beta, c, ldc);
            if (bias != null)
                for (int i = 0; i < m; i++)
                    Kernels.AddInto(new ReadOnlySpan<float>(bias, n), new Span<float>(c + (long)i * ldc, n));
            if (gelu)
                for (int i = 0; i < m; i++) Kernels.GeluSerial(c + (long)i * ldc, n);
            return;
        }
        var x = threadContext ??= new Context();
        int threads = serial ? 1 : WorkerPool.Threads(2L * m * n * k, ParallelGrainFlops);
        x.Set(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, bias, threads, gelu);
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            if (packed is not null)
            {
                // A packed weight needs no shared packing step per KC block, so each task runs its
                // columns through all of k: one fork/join per product instead of one per KC block
                // (six for a 1536-deep FFN product), which is most of a small batch's cost.
                x.Block(jc, nc, 0, k, beta, packed);
                WorkerPool.For(x.Tasks, threads, x.RunTaskBody);
                continue;
            }
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                x.Block(jc, nc, pc, kc, pc == 0 ? beta : 1f, null);
                x.BPanel = x.PackB.Get(x.Slivers * kc * NR);
                WorkerPool.For(x.Slivers, (long)kc * nc >= 1 << 15 ? threads : 1, x.PackBSliverBody);
                WorkerPool.For(x.Tasks, threads, x.RunTaskBody);
            }
        }
        x.Clear();
    }

    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>Per-call state, reused by the calling thread so that warm calls allocate nothing.</summary>
    private sealed class Context
    {
        public readonly Action<int> RunTaskBody, PackBSliverBody;
        public readonly AlignedBuffer PackB = new();
        public float* BPanel;
        public int Slivers, Tasks;
        private bool transA, transB, gelu;

        // A packed once for every task (all of k, KC block after KC block), or null: each task packs its own.
        private float* sharedA;
        private int m, lda, ldb, ldc, threads;
        private float alpha, betaNow;
        private float* a, b, c, bias;
        private int jc, nc, pc, kc, nParts, sliversPerPart;
        // Blocks of at most MC rows, in whole MR-row slivers.
        private RowBlocks rowBlocks;
        private PackedMatrix? packed;

        public Context()
        {
            RunTaskBody = RunTask;
            PackBSliverBody = PackBSliver;
        }

        public void Set(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda,
            float* b, int ldb, float* c, int ldc, float* bias, int threads, bool gelu)
        {
            this.bias = bias;
            this.gelu = gelu;
            (this.transA, this.transB, this.m, this.alpha) = (transA, transB, m, alpha);
            this.a = a;
            this.b = b;
            this.c = c;
            (this.lda, this.ldb, this.ldc, this.threads) = (lda, ldb, ldc, threads);
        }

        public void Clear()
        {
            a = b = c = bias = BPanel = sharedA = null;
            packed = null;
        }

        // packed: the weight's panels, walked through all of [pc, pc + kc) by each task; null when
        // BPanel holds this KC block's freshly packed B.
        public void Block(int jc, int nc, int pc, int kc, float beta, PackedMatrix? packed)
        {
            (this.jc, this.nc, this.pc, this.kc, betaNow, this.packed) = (jc, nc, pc, kc, beta, packed);
            if (packed is not null && packed.HalfSlivers != HalfSlivers)
                throw new InvalidOperationException($"B was packed in another kernel's layout than {Path}'s: pack it again");
            Slivers = (nc + NR - 1) / NR;
            int mBlocks = (m + MC - 1) / MC;
            // Enough tasks for every thread to get two, splitting along n when m is short (dW = dYᵀ·X).
            // A packed weight and a single block of rows (a short batch): A is packed once for all tasks, so
            // four per thread cost nothing more and even out a helper that joins late.
            bool shareA = packed is not null && mBlocks == 1;
            int parts = threads == 1 ? 1 : Math.Clamp(((shareA ? 4 : 2) * threads + mBlocks - 1) / mBlocks, 1, Slivers);
            // Blocks of even height; split along m alone, as many as the threads take in whole rounds.
            rowBlocks = parts == 1 ? RowBlocks.Balanced(m, MR, MC, threads) : new RowBlocks(m, MR, mBlocks);
            mBlocks = rowBlocks.Count;
            sliversPerPart = (Slivers + parts - 1) / parts;
            nParts = (Slivers + sliversPerPart - 1) / sliversPerPart;
            Tasks = mBlocks * nParts;
            sharedA = null;
            if (shareA && Tasks > 1) PackAllOfA();
        }

        public void PackBSliver(int s)
        {
            int j0 = jc + s * NR, cols = Math.Min(NR, jc + nc - j0);
            float* src = transB ? b + (long)j0 * ldb + pc : b + (long)pc * ldb + j0;
            PackSliver(transB, src, ldb, cols, kc, BPanel + (long)s * kc * NR, HalfSlivers);
        }

        // Packs all of A (the single block of rows, through all of k) on the calling thread, before the loop.
        private void PackAllOfA()
        {
            int aSlivers = (m + MR - 1) / MR;
            sharedA = (threadSharedA ??= new AlignedBuffer()).Get((long)aSlivers * MR * (pc + kc));
            for (int p = pc; p < pc + kc; p += KC)
                PackA(0, m, p, Math.Min(KC, pc + kc - p), sharedA + (long)aSlivers * MR * p);
        }

        public void RunTask(int t)
        {
            if (packed is null)
            {
                RunTask(t, pc, kc, betaNow, BPanel);
                return;
            }
            for (int p = pc; p < pc + kc; p += KC)
            {
                int depth = Math.Min(KC, pc + kc - p);
                RunTask(t, p, depth, p == pc ? betaNow : 1f, packed.Pointer + (long)p * packed.PaddedN + (long)(jc / NR) * depth * NR);
            }
            if (gelu)
            {
                // The task's tiles are final: GELU over its columns of its rows, still in this core's cache.
                int part = t % nParts;
                var (i0, mc) = rowBlocks[t / nParts];
                int j0 = jc + part * sliversPerPart * NR, j1 = Math.Min(jc + nc, j0 + sliversPerPart * NR);
                for (int i = i0; i < i0 + mc; i++) Kernels.GeluSerial(c + (long)i * ldc + j0, j1 - j0);
            }
        }

        // Rows [i0, i0 + mc) of op(A), columns [pc, pc + kc), into MR-row slivers at dst.
        private void PackA(int i0, int mc, int pc, int kc, float* dst)
        {
            for (int q = 0; q < (mc + MR - 1) / MR; q++)
            {
                int r0 = i0 + q * MR, rows = Math.Min(MR, i0 + mc - r0);
                float* sliver = dst + (long)q * kc * MR;
                if (transA) PackRows(a + (long)pc * lda + r0, lda, rows, kc, sliver, MR);
                else if (rows == MR && Path == Isa.Avx512) PackTransposed12(a + (long)r0 * lda + pc, lda, kc, sliver);
                else PackTransposed(a + (long)r0 * lda + pc, lda, rows, kc, sliver, MR);
            }
        }

        // Task t's tiles for the KC block [pc, pc + kc) of B, whose slivers start at panel.
        private void RunTask(int t, int pc, int kc, float betaNow, float* panel)
        {
            int part = t % nParts;
            var (i0, mc) = rowBlocks[t / nParts];
            int s0 = part * sliversPerPart, s1 = Math.Min(Slivers, s0 + sliversPerPart);
            int aSlivers = (mc + MR - 1) / MR;
            float* ap;
            if (sharedA != null)
            {
                ap = sharedA + (long)aSlivers * MR * pc;
            }
            else
            {
                ap = (threadPackA ??= new AlignedBuffer()).Get(aSlivers * kc * MR);
                PackA(i0, mc, pc, kc, ap);
            }
            for (int s = s0; s < s1; s++)
            {
                int j = jc + s * NR, nr = Math.Min(NR, jc + nc - j);
                float* bs = panel + (long)s * kc * NR;
                // The bias goes in with the first KC block, when C is first written.
                float* biasNow = bias != null && pc == 0 ? bias + j : null;
                for (int q = 0; q < aSlivers; q++)
                {
                    int r = i0 + q * MR, rows = Math.Min(MR, m - r);
                    TileFor(rows)(kc, ap + (long)q * kc * MR, bs, c + (long)r * ldc + j, ldc, alpha, betaNow, rows, nr, biasNow);
                }
            }
        }
    }

    /// <summary>
    /// Packs columns [j0, j0 + cols) of op(B) over depth kc (cols ≤ NR, zero past them) into one sliver at dst,
    /// whole or as two halves (<see cref="HalfSlivers"/>); b points at op(B)'s element (p0, j0).
    /// </summary>
    internal static void PackSliver(bool transB, float* b, int ldb, int cols, int kc, float* dst, bool halves)
    {
        if (halves)
        {
            const int half = NR / 2;
            int left = Math.Min(half, cols), right = Math.Max(0, cols - half);
            long offset = transB ? (long)half * ldb : half;
            if (transB)
            {
                PackTransposed(b, ldb, left, kc, dst, half);
                PackTransposed(b + offset, ldb, right, kc, dst + (long)kc * half, half);
            }
            else
            {
                PackRows(b, ldb, left, kc, dst, half);
                PackRows(b + offset, ldb, right, kc, dst + (long)kc * half, half);
            }
        }
        else if (transB && cols == NR && Path == Isa.Avx512) PackTransposed32(b, ldb, kc, dst);
        else if (transB) PackTransposed(b, ldb, cols, kc, dst, NR);
        else PackRows(b, ldb, cols, kc, dst, NR);
    }

    /// <summary>
    /// Packs `count` contiguous runs (rows of the source, `width` wide) into a sliver of `lanes`
    /// lanes: dst[p·lanes + l] = src[p·ld + l] for l &lt; width, zero beyond.
    /// </summary>
    internal static void PackRows(float* src, int ld, int width, int count, float* dst, int lanes)
    {
        if (width == lanes && lanes == NR && Vector512.IsHardwareAccelerated)
        {
            for (int p = 0; p < count; p++, src += ld, dst += NR)
            {
                Vector512.Load(src).Store(dst);
                Vector512.Load(src + 16).Store(dst + 16);
            }
            return;
        }
        if (width == lanes && lanes % 16 == 0 && Vector256.IsHardwareAccelerated)
        {
            // A whole sliver (32 lanes) or half of one (16, HalfSlivers).
            for (int p = 0; p < count; p++, src += ld, dst += lanes)
                for (int l = 0; l < lanes; l += 16)
                {
                    Vector256.Load(src + l).Store(dst + l);
                    Vector256.Load(src + l + 8).Store(dst + l + 8);
                }
            return;
        }
        // A full 12-row sliver of A read transposed (dYᵀ in dW = dYᵀ·X, Pᵀ and dSᵀ in attention):
        // exactly 12 floats per step, so nothing past the source row is read.
        if (width == lanes && lanes == MR && Vector256.IsHardwareAccelerated)
        {
            for (int p = 0; p < count; p++, src += ld, dst += MR)
            {
                Vector256.Load(src).Store(dst);
                Vector128.Load(src + 8).Store(dst + 8);
            }
            return;
        }
        for (int p = 0; p < count; p++, src += ld, dst += lanes)
        {
            int l = 0;
            for (; l < width; l++) dst[l] = src[l];
            for (; l < lanes; l++) dst[l] = 0;
        }
    }

    /// <summary>
    /// <see cref="PackTransposed"/> for a full 12-row sliver of row-major A (the forward pass's
    /// x in x·Wᵀ): 12 rows × 16 values at a time go through a 16×16 register transpose (rows
    /// 12–15 zero) instead of 192 scalar moves, and the first 12 lanes of each column are stored.
    /// </summary>
    internal static void PackTransposed12(float* src, int ld, int count, float* dst)
    {
        int p = 0;
        for (; p + 16 <= count; p += 16, dst += 16 * MR)
        {
            float* s = src + p;
            var z = Vector512<float>.Zero;
            // Stage 1–2: within each 128-bit lane L, u[4g + j] holds column 4L + j of rows 4g … 4g+3.
            Quad(Vector512.Load(s), Vector512.Load(s + ld), Vector512.Load(s + 2L * ld), Vector512.Load(s + 3L * ld),
                out var u0, out var u1, out var u2, out var u3);
            Quad(Vector512.Load(s + 4L * ld), Vector512.Load(s + 5L * ld), Vector512.Load(s + 6L * ld), Vector512.Load(s + 7L * ld),
                out var u4, out var u5, out var u6, out var u7);
            Quad(Vector512.Load(s + 8L * ld), Vector512.Load(s + 9L * ld), Vector512.Load(s + 10L * ld), Vector512.Load(s + 11L * ld),
                out var u8, out var u9, out var u10, out var u11);
            // Stage 3–4: gather lane L of u[j], u[4+j], u[8+j] (and zero) into column 4L + j.
            Columns(u0, u4, u8, z, dst, 0);
            Columns(u1, u5, u9, z, dst, 1);
            Columns(u2, u6, u10, z, dst, 2);
            Columns(u3, u7, u11, z, dst, 3);
        }
        if (p < count) PackTransposed(src + p, ld, MR, count - p, dst, MR);
    }

    /// <summary>
    /// <see cref="PackTransposed"/> for a full 32-lane sliver of B read transposed (Wᵀ in x·Wᵀ, Kᵀ in
    /// attention's scores): two 16×16 register transposes per 16 values of k instead of 512 scalar moves.
    /// </summary>
    internal static void PackTransposed32(float* src, int ld, int count, float* dst)
    {
        int p = 0;
        for (; p + 16 <= count; p += 16, dst += 16 * NR)
        {
            Transpose16(src + p, ld, dst, NR);
            Transpose16(src + p + 16L * ld, ld, dst + 16, NR);
        }
        if (p < count) PackTransposed(src + p, ld, NR, count - p, dst, NR);
    }

    // dst[c·stride + r] = src[r·ld + c] for r, c < 8, through AVX registers (pairs interleaved, then quads, then the
    // 128-bit halves swapped).
    internal static void Transpose8(float* s, int ld, float* dst, int stride)
    {
        var r0 = Avx.LoadVector256(s);
        var r1 = Avx.LoadVector256(s + ld);
        var r2 = Avx.LoadVector256(s + 2L * ld);
        var r3 = Avx.LoadVector256(s + 3L * ld);
        var r4 = Avx.LoadVector256(s + 4L * ld);
        var r5 = Avx.LoadVector256(s + 5L * ld);
        var r6 = Avx.LoadVector256(s + 6L * ld);
        var r7 = Avx.LoadVector256(s + 7L * ld);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + stride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2L * stride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3L * stride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4L * stride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5L * stride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6L * stride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7L * stride, Avx.Permute2x128(u3, u7, 0x31));
    }

    // dst[c·stride + r] = src[r·ld + c] for r, c < 16.
    internal static void Transpose16(float* s, int ld, float* dst, int stride)
    {
        Quad(Vector512.Load(s), Vector512.Load(s + ld), Vector512.Load(s + 2L * ld), Vector512.Load(s + 3L * ld),
            out var u0, out var u1, out var u2, out var u3);
        Quad(Vector512.Load(s + 4L * ld), Vector512.Load(s + 5L * ld), Vector512.Load(s + 6L * ld), Vector512.Load(s + 7L * ld),
            out var u4, out var u5, out var u6, out var u7);
        Quad(Vector512.Load(s + 8L * ld), Vector512.Load(s + 9L * ld), Vector512.Load(s + 10L * ld), Vector512.Load(s + 11L * ld),
            out var u8, out var u9, out var u10, out var u11);
        Quad(Vector512.Load(s + 12L * ld), Vector512.Load(s + 13L * ld), Vector512.Load(s + 14L * ld), Vector512.Load(s + 15L * ld),
            out var u12, out var u13, out var u14, out var u15);
        Columns16(u0, u4, u8, u12, dst, 0, stride);
        Columns16(u1, u5, u9, u13, dst, 1, stride);
        Columns16(u2, u6, u10, u14, dst, 2, stride);
        Columns16(u3, u7, u11, u15, dst, 3, stride);
    }

    // Columns j, 4+j, 8+j and 12+j (all 16 rows) at dst + column·stride.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns16(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* dst, int j, int stride)
    {
        var v = Avx512F.Shuffle4x128(a, b, 0x88);
        var w = Avx512F.Shuffle4x128(a, b, 0xDD);
        var v2 = Avx512F.Shuffle4x128(c, d, 0x88);
        var w2 = Avx512F.Shuffle4x128(c, d, 0xDD);
        Avx512F.Shuffle4x128(v, v2, 0x88).Store(dst + (long)j * stride);
        Avx512F.Shuffle4x128(w, w2, 0x88).Store(dst + (long)(4 + j) * stride);
        Avx512F.Shuffle4x128(v, v2, 0xDD).Store(dst + (long)(8 + j) * stride);
        Avx512F.Shuffle4x128(w, w2, 0xDD).Store(dst + (long)(12 + j) * stride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quad(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3,
        out Vector512<float> c0, out Vector512<float> c1, out Vector512<float> c2, out Vector512<float> c3)
    {
        var t0 = Avx512F.UnpackLow(r0, r1);
        var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3);
        var t3 = Avx512F.UnpackHigh(r2, r3);
        c0 = Avx512F.Shuffle(t0, t2, 0x44);
        c1 = Avx512F.Shuffle(t0, t2, 0xEE);
        c2 = Avx512F.Shuffle(t1, t3, 0x44);
        c3 = Avx512F.Shuffle(t1, t3, 0xEE);
    }

    // Stores the 12 real lanes of columns j, 4+j, 8+j and 12+j at dst + column·MR.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Columns(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d, float* dst, int j)
    {
        var v = Avx512F.Shuffle4x128(a, b, 0x88);
        var w = Avx512F.Shuffle4x128(a, b, 0xDD);
        var v2 = Avx512F.Shuffle4x128(c, d, 0x88);
        var w2 = Avx512F.Shuffle4x128(c, d, 0xDD);
        Store12(dst + j * MR, Avx512F.Shuffle4x128(v, v2, 0x88));
        Store12(dst + (4 + j) * MR, Avx512F.Shuffle4x128(w, w2, 0x88));
        Store12(dst + (8 + j) * MR, Avx512F.Shuffle4x128(v, v2, 0xDD));
        Store12(dst + (12 + j) * MR, Avx512F.Shuffle4x128(w, w2, 0xDD));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store12(float* dst, Vector512<float> v)
    {
        v.GetLower().Store(dst);
        v.GetUpper().GetLower().Store(dst + 8);
    }

    /// <summary>
    /// Packs `width` source rows of `count` contiguous values into a sliver of `lanes` lanes:
    /// dst[p·lanes + l] = src[l·ld + p] for l &lt; width, zero beyond.
    /// </summary>
    internal static void PackTransposed(float* src, int ld, int width, int count, float* dst, int lanes)
    {
        int l = 0;
        // Four rows × four values at a time through a 4×4 register transpose (where AVX-512's whole-sliver
        // transposes do not apply: AVX2, and edges), the rest one value at a time.
        if (Sse.IsSupported)
            for (; l + 4 <= width; l += 4)
            {
                float* s = src + (long)l * ld;
                float* d = dst + l;
                int p = 0;
                for (; p + 4 <= count; p += 4) Transpose4(s + p, ld, d + (long)p * lanes, lanes);
                for (; p < count; p++)
                    for (int r = 0; r < 4; r++) d[(long)p * lanes + r] = s[(long)r * ld + p];
            }
        for (; l < width; l++)
        {
            float* s = src + (long)l * ld;
            float* d = dst + l;
            for (int p = 0; p < count; p++) d[(long)p * lanes] = s[p];
        }
        for (; l < lanes; l++)
            for (int p = 0; p < count; p++) dst[(long)p * lanes + l] = 0;
    }

    // dst[c·stride + r] = src[r·ld + c] for r, c < 4.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(float* s, int ld, float* dst, int stride)
    {
        var r0 = Vector128.Load(s);
        var r1 = Vector128.Load(s + ld);
        var r2 = Vector128.Load(s + 2L * ld);
        var r3 = Vector128.Load(s + 3L * ld);
        var t0 = Sse.UnpackLow(r0, r1);    // r0[0] r1[0] r0[1] r1[1]
        var t1 = Sse.UnpackLow(r2, r3);
        var t2 = Sse.UnpackHigh(r0, r1);   // r0[2] r1[2] r0[3] r1[3]
        var t3 = Sse.UnpackHigh(r2, r3);
        Sse.MoveLowToHigh(t0, t1).Store(dst);
        Sse.MoveHighToLow(t1, t0).Store(dst + stride);
        Sse.MoveLowToHigh(t2, t3).Store(dst + 2L * stride);
        Sse.MoveHighToLow(t3, t2).Store(dst + 3L * stride);
    }

    /// <summary>
    /// The microkernel in use for a sliver of A with this many real rows (at most 12): on AVX-512 a short last sliver
    /// (a few tokens' rows) takes a narrower kernel, where the 12-row one would spend 12 rows of multiply-adds on it.
    /// </summary>
    internal static delegate*<int, float*, float*, float*, int, float, float, int, int, float*, void> TileFor(int rows) => Path switch
    {
        Isa.Avx512 => rows > 8 ? &Tile512 : rows > 4 ? &Tile512x8 : &Tile512x4,
        Isa.Avx2 => &Tile256,
        _ => &TileScalar,
    };

    // 12x32 tile: 24 accumulators + 2 B vectors fit the 32 zmm registers; each A value is broadcast
    // from the packed panel into one register that feeds both of its FMAs (14 loads per 24 FMAs).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        Vector512<float> r0a = default, r0b = default;
        Vector512<float> r1a = default, r1b = default;
        Vector512<float> r2a = default, r2b = default;
        Vector512<float> r3a = default, r3b = default;
        Vector512<float> r4a = default, r4b = default;
        Vector512<float> r5a = default, r5b = default;
        Vector512<float> r6a = default, r6b = default;
        Vector512<float> r7a = default, r7b = default;
        Vector512<float> r8a = default, r8b = default;
        Vector512<float> r9a = default, r9b = default;
        Vector512<float> r10a = default, r10b = default;
        Vector512<float> r11a = default, r11b = default;
        // The next sliver of B follows this one in memory (packed weights and fresh panels alike) and
        // is pulled into L2 a line pair per step: with few rows of A (a short input), B's weights are
        // read from memory once per pass at more bytes per flop than the hardware prefetcher keeps up
        // with (≈ 110 → 170 GFLOP/s at 16 rows with the weight out of cache, `gemm 1 cold`).
        // Past B's last sliver the prefetches touch nothing: they never fault.
        float* next = b + kc * NR;
        for (int p = 0; p < kc; p++)
        {
            Sse.Prefetch1(next);
            Sse.Prefetch1(next + 16);
            next += NR;
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            r0a = Vector512.FusedMultiplyAdd(a0, b0, r0a);
            r0b = Vector512.FusedMultiplyAdd(a0, b1, r0b);
            var a1 = Vector512.Create(a[1]);
            r1a = Vector512.FusedMultiplyAdd(a1, b0, r1a);
            r1b = Vector512.FusedMultiplyAdd(a1, b1, r1b);
            var a2 = Vector512.Create(a[2]);
            r2a = Vector512.FusedMultiplyAdd(a2, b0, r2a);
            r2b = Vector512.FusedMultiplyAdd(a2, b1, r2b);
            var a3 = Vector512.Create(a[3]);
            r3a = Vector512.FusedMultiplyAdd(a3, b0, r3a);
            r3b = Vector512.FusedMultiplyAdd(a3, b1, r3b);
            var a4 = Vector512.Create(a[4]);
            r4a = Vector512.FusedMultiplyAdd(a4, b0, r4a);
            r4b = Vector512.FusedMultiplyAdd(a4, b1, r4b);
            var a5 = Vector512.Create(a[5]);
            r5a = Vector512.FusedMultiplyAdd(a5, b0, r5a);
            r5b = Vector512.FusedMultiplyAdd(a5, b1, r5b);
            var a6 = Vector512.Create(a[6]);
            r6a = Vector512.FusedMultiplyAdd(a6, b0, r6a);
            r6b = Vector512.FusedMultiplyAdd(a6, b1, r6b);
            var a7 = Vector512.Create(a[7]);
            r7a = Vector512.FusedMultiplyAdd(a7, b0, r7a);
            r7b = Vector512.FusedMultiplyAdd(a7, b1, r7b);
            var a8 = Vector512.Create(a[8]);
            r8a = Vector512.FusedMultiplyAdd(a8, b0, r8a);
            r8b = Vector512.FusedMultiplyAdd(a8, b1, r8b);
            var a9 = Vector512.Create(a[9]);
            r9a = Vector512.FusedMultiplyAdd(a9, b0, r9a);
            r9b = Vector512.FusedMultiplyAdd(a9, b1, r9b);
            var a10 = Vector512.Create(a[10]);
            r10a = Vector512.FusedMultiplyAdd(a10, b0, r10a);
            r10b = Vector512.FusedMultiplyAdd(a10, b1, r10b);
            var a11 = Vector512.Create(a[11]);
            r11a = Vector512.FusedMultiplyAdd(a11, b0, r11a);
            r11b = Vector512.FusedMultiplyAdd(a11, b1, r11b);
            a += MR;
            b += NR;
        }
        if (mr == MR && nr == NR)
        {
            Store512(c + 0 * ldc, r0a, r0b, alpha, beta, bias);
            Store512(c + 1 * ldc, r1a, r1b, alpha, beta, bias);
            Store512(c + 2 * ldc, r2a, r2b, alpha, beta, bias);
            Store512(c + 3 * ldc, r3a, r3b, alpha, beta, bias);
            Store512(c + 4 * ldc, r4a, r4b, alpha, beta, bias);
            Store512(c + 5 * ldc, r5a, r5b, alpha, beta, bias);
            Store512(c + 6 * ldc, r6a, r6b, alpha, beta, bias);
            Store512(c + 7 * ldc, r7a, r7b, alpha, beta, bias);
            Store512(c + 8 * ldc, r8a, r8b, alpha, beta, bias);
            Store512(c + 9 * ldc, r9a, r9b, alpha, beta, bias);
            Store512(c + 10 * ldc, r10a, r10b, alpha, beta, bias);
            Store512(c + 11 * ldc, r11a, r11b, alpha, beta, bias);
        }
        else
        {
            float* t = stackalloc float[MR * NR];
            r0a.Store(t + 0); r0b.Store(t + 16);
            r1a.Store(t + 32); r1b.Store(t + 48);
            r2a.Store(t + 64); r2b.Store(t + 80);
            r3a.Store(t + 96); r3b.Store(t + 112);
            r4a.Store(t + 128); r4b.Store(t + 144);
            r5a.Store(t + 160); r5b.Store(t + 176);
            r6a.Store(t + 192); r6b.Store(t + 208);
            r7a.Store(t + 224); r7b.Store(t + 240);
            r8a.Store(t + 256); r8b.Store(t + 272);
            r9a.Store(t + 288); r9b.Store(t + 304);
            r10a.Store(t + 320); r10b.Store(t + 336);
            r11a.Store(t + 352); r11b.Store(t + 368);
            StoreEdge(t, c, ldc, alpha, beta, mr, nr, bias);
        }
    }

    // Tile512 for slivers of at most 4 real rows (of the 12-lane packed A sliver).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512x4(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        Vector512<float> r0a = default, r0b = default, r1a = default, r1b = default;
        Vector512<float> r2a = default, r2b = default, r3a = default, r3b = default;
        float* next = b + kc * NR; // the next sliver, as in Tile512
        for (int p = 0; p < kc; p++)
        {
            Sse.Prefetch1(next);
            Sse.Prefetch1(next + 16);
            next += NR;
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            r0a = Vector512.FusedMultiplyAdd(a0, b0, r0a);
            r0b = Vector512.FusedMultiplyAdd(a0, b1, r0b);
            var a1 = Vector512.Create(a[1]);
            r1a = Vector512.FusedMultiplyAdd(a1, b0, r1a);
            r1b = Vector512.FusedMultiplyAdd(a1, b1, r1b);
            var a2 = Vector512.Create(a[2]);
            r2a = Vector512.FusedMultiplyAdd(a2, b0, r2a);
            r2b = Vector512.FusedMultiplyAdd(a2, b1, r2b);
            var a3 = Vector512.Create(a[3]);
            r3a = Vector512.FusedMultiplyAdd(a3, b0, r3a);
            r3b = Vector512.FusedMultiplyAdd(a3, b1, r3b);
            a += MR;
            b += NR;
        }
        float* t = stackalloc float[4 * NR];
        r0a.Store(t + 0); r0b.Store(t + 16);
        r1a.Store(t + 32); r1b.Store(t + 48);
        r2a.Store(t + 64); r2b.Store(t + 80);
        r3a.Store(t + 96); r3b.Store(t + 112);
        StoreRows(t, c, ldc, alpha, beta, mr, nr, bias);
    }

    // Tile512 for slivers of 5 to 8 real rows.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512x8(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        Vector512<float> r0a = default, r0b = default, r1a = default, r1b = default;
        Vector512<float> r2a = default, r2b = default, r3a = default, r3b = default;
        Vector512<float> r4a = default, r4b = default, r5a = default, r5b = default;
        Vector512<float> r6a = default, r6b = default, r7a = default, r7b = default;
        float* next = b + kc * NR; // the next sliver, as in Tile512
        for (int p = 0; p < kc; p++)
        {
            Sse.Prefetch1(next);
            Sse.Prefetch1(next + 16);
            next += NR;
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            r0a = Vector512.FusedMultiplyAdd(a0, b0, r0a);
            r0b = Vector512.FusedMultiplyAdd(a0, b1, r0b);
            var a1 = Vector512.Create(a[1]);
            r1a = Vector512.FusedMultiplyAdd(a1, b0, r1a);
            r1b = Vector512.FusedMultiplyAdd(a1, b1, r1b);
            var a2 = Vector512.Create(a[2]);
            r2a = Vector512.FusedMultiplyAdd(a2, b0, r2a);
            r2b = Vector512.FusedMultiplyAdd(a2, b1, r2b);
            var a3 = Vector512.Create(a[3]);
            r3a = Vector512.FusedMultiplyAdd(a3, b0, r3a);
            r3b = Vector512.FusedMultiplyAdd(a3, b1, r3b);
            var a4 = Vector512.Create(a[4]);
            r4a = Vector512.FusedMultiplyAdd(a4, b0, r4a);
            r4b = Vector512.FusedMultiplyAdd(a4, b1, r4b);
            var a5 = Vector512.Create(a[5]);
            r5a = Vector512.FusedMultiplyAdd(a5, b0, r5a);
            r5b = Vector512.FusedMultiplyAdd(a5, b1, r5b);
            var a6 = Vector512.Create(a[6]);
            r6a = Vector512.FusedMultiplyAdd(a6, b0, r6a);
            r6b = Vector512.FusedMultiplyAdd(a6, b1, r6b);
            var a7 = Vector512.Create(a[7]);
            r7a = Vector512.FusedMultiplyAdd(a7, b0, r7a);
            r7b = Vector512.FusedMultiplyAdd(a7, b1, r7b);
            a += MR;
            b += NR;
        }
        // Full tiles store straight to C: with only the scratch tile below, the JIT kept the 16
        // accumulators on the stack through the k loop (half speed, `gemm 0.5 'QKV      packed W'`).
        if (mr == 8 && nr == NR)
        {
            Store512(c + 0 * ldc, r0a, r0b, alpha, beta, bias);
            Store512(c + 1 * ldc, r1a, r1b, alpha, beta, bias);
            Store512(c + 2 * ldc, r2a, r2b, alpha, beta, bias);
            Store512(c + 3 * ldc, r3a, r3b, alpha, beta, bias);
            Store512(c + 4 * ldc, r4a, r4b, alpha, beta, bias);
            Store512(c + 5 * ldc, r5a, r5b, alpha, beta, bias);
            Store512(c + 6 * ldc, r6a, r6b, alpha, beta, bias);
            Store512(c + 7 * ldc, r7a, r7b, alpha, beta, bias);
            return;
        }
        float* t = stackalloc float[8 * NR];
        r0a.Store(t + 0); r0b.Store(t + 16);
        r1a.Store(t + 32); r1b.Store(t + 48);
        r2a.Store(t + 64); r2b.Store(t + 80);
        r3a.Store(t + 96); r3b.Store(t + 112);
        r4a.Store(t + 128); r4b.Store(t + 144);
        r5a.Store(t + 160); r5b.Store(t + 176);
        r6a.Store(t + 192); r6b.Store(t + 208);
        r7a.Store(t + 224); r7b.Store(t + 240);
        StoreRows(t, c, ldc, alpha, beta, mr, nr, bias);
    }

    // The first mr rows of a short tile t (NR wide): whole rows vectorised, a narrow edge through StoreEdge.
    private static void StoreRows(float* t, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        if (nr != NR)
        {
            StoreEdge(t, c, ldc, alpha, beta, mr, nr, bias);
            return;
        }
        for (int i = 0; i < mr; i++) Store512(c + (long)i * ldc, Vector512.Load(t + i * NR), Vector512.Load(t + i * NR + 16), alpha, beta, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float alpha, float beta, float* bias) =>
        StoreRow(c, new Vec512(v0), new Vec512(v1), alpha, beta, bias);

    // Two vectors of a row of C: alpha·v + beta·C (C unread when beta is 0) + bias, at either microkernel's width.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<V>(float* c, V v0, V v1, float alpha, float beta, float* bias) where V : unmanaged, IVec<V>
    {
        var va = V.Create(alpha);
        V c0, c1;
        if (beta == 0)
        {
            c0 = v0 * va;
            c1 = v1 * va;
        }
        else
        {
            var vb = V.Create(beta);
            c0 = V.MultiplyAdd(v0, va, V.Load(c) * vb);
            c1 = V.MultiplyAdd(v1, va, V.Load(c + V.Count) * vb);
        }
        if (bias != null)
        {
            c0 += V.Load(bias);
            c1 += V.Load(bias + V.Count);
        }
        V.Store(c0, c);
        V.Store(c1, c + V.Count);
    }

    // Edge tiles (and the fallback kernels) go through a dense MR×NR scratch tile.
    private static void StoreEdge(float* t, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        for (int i = 0; i < mr; i++)
        {
            float* ci = c + (long)i * ldc;
            float* ti = t + i * NR;
            if (beta == 0)
                for (int j = 0; j < nr; j++) ci[j] = alpha * ti[j];
            else
                for (int j = 0; j < nr; j++) ci[j] = alpha * ti[j] + beta * ci[j];
            if (bias != null)
                for (int j = 0; j < nr; j++) ci[j] += bias[j];
        }
    }

    // AVX2: the 12×32 tile as 6×16 blocks, each 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm
    // registers (3 rows × 32 columns took 17 and spilled an accumulator every step). Column half by column half,
    // so that both row strips read that half of the B sliver (kc × 16) from L1. A short tile (a few tokens'
    // rows, a narrow edge) skips the blocks wholly outside it, and a last strip of at most 4 rows runs 4.
    // The B sliver is packed as two halves (HalfSlivers), each kc × 16.
    internal static void Tile256(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        for (int c0 = 0; c0 < nr; c0 += 16)
            for (int r0 = 0; r0 < mr;)
            {
                // 7 or 8 rows left (a 32-row block's last sliver) take two 4-row strips, 16 multiply-adds a step
                // where a 6-row and a mostly empty 4-row strip took 20: 4–6 % faster passes of 32-row blocks.
                int left = mr - r0, strip = left > 4 && left is not (7 or 8) ? 6 : 4;
                int rows = Math.Min(strip, left), cols = Math.Min(16, nr - c0);
                float* biasNow = bias == null ? null : bias + c0;
                float* half = b + (long)c0 * kc;
                if (strip == 6) Block256<SixRows>(kc, a + r0, half, c + (long)r0 * ldc + c0, ldc, alpha, beta, rows, cols, biasNow);
                else Block256<FourRows>(kc, a + r0, half, c + (long)r0 * ldc + c0, ldc, alpha, beta, rows, cols, biasNow);
                r0 += rows;
            }
    }

    // A strip's height as a type: Block256 instantiated over each is compiled once per height, its row tests constants.
    private interface IStrip
    {
        static abstract int Rows { get; }
    }

    private readonly struct SixRows : IStrip
    {
        public static int Rows => 6;
    }

    private readonly struct FourRows : IStrip
    {
        public static int Rows => 4;
    }

    // Rows × cols (at most TStrip.Rows × 16) of C from a strip of the A sliver (rows past mr are the packing's zeros)
    // and a 16-column half of the B sliver (kc × 16). The height is a type, not an
    // argument: the JIT compiles this method on its own rather than into its callers, and a row test inside the loop
    // cost its two branches every step (products of 16–64 rows 1–7 % slower, same run).
    private static void Block256<TStrip>(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int rows, int cols, float* bias)
        where TStrip : struct, IStrip
    {
        Vector256<float> c0a = default, c0b = default, c1a = default, c1b = default, c2a = default, c2b = default;
        Vector256<float> c3a = default, c3b = default, c4a = default, c4b = default, c5a = default, c5b = default;
        // The same half of the next sliver into L2 a line per step, as Tile512 does (see there).
        float* next = b + kc * NR, end = a + (nint)kc * MR;
        for (; a < end; a += MR, b += 16, next += 16)
        {
            Sse.Prefetch1(next);
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a[0]);
            c0a = Fma.MultiplyAdd(av, b0, c0a); c0b = Fma.MultiplyAdd(av, b1, c0b);
            av = Vector256.Create(a[1]);
            c1a = Fma.MultiplyAdd(av, b0, c1a); c1b = Fma.MultiplyAdd(av, b1, c1b);
            av = Vector256.Create(a[2]);
            c2a = Fma.MultiplyAdd(av, b0, c2a); c2b = Fma.MultiplyAdd(av, b1, c2b);
            av = Vector256.Create(a[3]);
            c3a = Fma.MultiplyAdd(av, b0, c3a); c3b = Fma.MultiplyAdd(av, b1, c3b);
            if (TStrip.Rows > 4)
            {
                av = Vector256.Create(a[4]);
                c4a = Fma.MultiplyAdd(av, b0, c4a); c4b = Fma.MultiplyAdd(av, b1, c4b);
                av = Vector256.Create(a[5]);
                c5a = Fma.MultiplyAdd(av, b0, c5a); c5b = Fma.MultiplyAdd(av, b1, c5b);
            }
        }
        if (cols == 16)
        {
            // Whole rows straight into C; only the rows the tile has.
            Store256(c, c0a, c0b, alpha, beta, bias);
            if (rows > 1) Store256(c + ldc, c1a, c1b, alpha, beta, bias);
            if (rows > 2) Store256(c + 2L * ldc, c2a, c2b, alpha, beta, bias);
            if (rows > 3) Store256(c + 3L * ldc, c3a, c3b, alpha, beta, bias);
            if (rows > 4) Store256(c + 4L * ldc, c4a, c4b, alpha, beta, bias);
            if (rows > 5) Store256(c + 5L * ldc, c5a, c5b, alpha, beta, bias);
            return;
        }
        float* t = stackalloc float[6 * NR];
        c0a.Store(t); c0b.Store(t + 8);
        c1a.Store(t + NR); c1b.Store(t + NR + 8);
        c2a.Store(t + 2 * NR); c2b.Store(t + 2 * NR + 8);
        c3a.Store(t + 3 * NR); c3b.Store(t + 3 * NR + 8);
        c4a.Store(t + 4 * NR); c4b.Store(t + 4 * NR + 8);
        c5a.Store(t + 5 * NR); c5b.Store(t + 5 * NR + 8);
        StoreEdge(t, c, ldc, alpha, beta, rows, cols, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, float alpha, float beta, float* bias) =>
        StoreRow(c, new Vec256(v0), new Vec256(v1), alpha, beta, bias);

    private static void TileScalar(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mr, int nr, float* bias)
    {
        float* t = stackalloc float[MR * NR];
        new Span<float>(t, MR * NR).Clear();
        for (int p = 0; p < kc; p++, a += MR, b += NR)
            for (int i = 0; i < mr; i++)
            {
                float av = a[i];
                float* ti = t + i * NR;
                for (int j = 0; j < nr; j++) ti[j] += av * b[j];
            }
        StoreEdge(t, c, ldc, alpha, beta, mr, nr, bias);
    }
}

/// <summary>Where matrix (o, i) of a batch starts: o·Outer + i·Inner elements into its span.</summary>
internal readonly record struct BatchStrides(long Outer, long Inner)
{
    internal long Offset(int o, int i) => o * Outer + i * Inner;
}

/// <summary>A 64-byte aligned native buffer that grows on demand and is freed with its owner.</summary>
internal sealed unsafe class AlignedBuffer
{
    private float* pointer;
    private long capacity;

    public float* Get(long floats)
    {
        if (floats > capacity)
        {
            NativeMemory.AlignedFree(pointer);
            pointer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            capacity = floats;
        }
        return pointer;
    }

    ~AlignedBuffer() => NativeMemory.AlignedFree(pointer);
}
