using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// Fused multi-head scaled dot-product attention over activations laid out [tokens, hidden]
/// (tokens = batch · seq, row stride ld), where head h occupies columns [h·headDim, (h+1)·headDim).
/// Per (batch b, head h): P = softmax(scale · Q Kᵀ) over the first validKeys[b] keys, and
/// context = P · V. Keys at or past validKeys[b] (right padding) are skipped, which equals an
/// additive mask of −∞ there: they get probability 0 and no work. Padded query rows are still
/// computed (they attend to the real keys), as in Hugging Face's BERT.
/// With attention dropout (training), context = (P ⊙ M) · V, where M is the <see cref="DropoutMask"/>
/// of the call's key at index ((b·heads + h)·seq + i)·seq + j: it is built per (batch, head) block
/// in forward and rebuilt in backward, never stored.
/// </summary>
/// <remarks>
/// The (batch, head) pairs run in parallel when the cost model finds enough work, each with
/// single-threaded GEMMs on packed panels. q, k and v may be column slices of one fused
/// [tokens, 3·hidden] QKV buffer (same ld). The general overloads also serve masks with holes (an
/// additive mask) and a [CLS]-only last layer (one query row per sequence): every managed attention
/// in the encoder is this one kernel. Inference over more keys than the direct kernels take (no probabilities kept,
/// no dropout) runs each head key-major (Attention.KeyMajor.cs).
/// </remarks>
internal static unsafe partial class Attention
{
    [ThreadStatic] private static AlignedBuffer? scratch;

    /// <summary>
    /// context[b·seq + i, h·headDim + d] = Σ_j P[b,h,i,j] · v[b·seq + j, h·headDim + d].
    /// probs is either empty or [batch, heads, seq, seq]; when given it receives P (zeros for
    /// padded keys, before dropout), which <see cref="Backward"/> needs and which can be shown to users.
    /// dropout (in [0, 1)) and dropoutKey select the dropout mask; 0 means none. dropoutOffset is the mask index of
    /// this call's first element (0, or where these sequences start in a larger batch whose masks they must repeat).
    /// </summary>
    public static void Forward(
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        Span<float> context, int ldContext, Span<float> probs,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys,
        float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0) =>
        ForwardQueries(q, ld, seq, k, v, ld, context, ldContext, probs, batch, seq, heads, headDim, scale, validKeys, default, dropout, dropoutKey, dropoutOffset);

    /// <summary>
    /// The general form of <see cref="Forward"/>:
    /// queryRows query rows per sequence (seq, or 1 for a [CLS]-only last layer) in q with row stride
    /// ldq, sequence b's at row b·queryRows, and context laid out likewise (row stride ldContext);
    /// probs, when given, is [batch, heads, queryRows, seq]. addMask, when given ([batch, seq]), is
    /// added to the scaled scores of the first validKeys[b] keys (0 for real keys, float.MinValue
    /// for masked ones: a mask with holes, as Hugging Face's BERT adds it). The dropout mask's index
    /// is dropoutOffset + ((b·heads + h)·queryRows + i)·seq + j.
    /// </summary>
    public static void ForwardQueries(
        ReadOnlySpan<float> q, int ldq, int queryRows, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        Span<float> context, int ldContext, Span<float> probs,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys, ReadOnlySpan<float> addMask,
        float dropout, ulong dropoutKey, long dropoutOffset = 0)
    {
        CheckDropout(dropout);
        Check(q.Length, ldq, queryRows, k.Length, v.Length, ld, batch, seq, heads, headDim, validKeys);
        Gemm.CheckMatrix("context", context.Length, batch * queryRows, heads * headDim, ldContext);
        if (!probs.IsEmpty) Kernels.Need(probs.Length, batch * heads * queryRows, seq, nameof(probs));
        if (!addMask.IsEmpty) Kernels.Need(addMask.Length, batch, seq, nameof(addMask));
        if (batch == 0 || seq == 0 || heads == 0 || queryRows == 0) return;
        fixed (float* pq = q, pk = k, pv = v, pc = context, pp = probs, pm = addMask)
        fixed (int* pl = validKeys)
        {
            var job = new Job
            {
                Q = pq,
                LdQ = ldq,
                Rows = queryRows,
                K = pk,
                V = pv,
                Ld = ld,
                C = pc,
                LdC = ldContext,
                P = probs.IsEmpty ? null : pp,
                Add = addMask.IsEmpty ? null : pm,
                Seq = seq,
                Heads = heads,
                HeadDim = headDim,
                Scale = scale,
                Valid = pl,
                Dropout = dropout,
                Key = dropoutKey,
                Offset = dropoutOffset,
            };
            Run(batch * heads, job, Simd.Lanes switch { Simd.Width.V512 => &ForwardOne<Vec512>, Simd.Width.V256 => &ForwardOne<Vec256>, _ => &ForwardOne<Vec128> }, 1);
        }
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/> given dContext and the saved probs: dq, dk and dv are
    /// written (not accumulated) at the same positions as q, k and v (row stride ldGrad); rows of
    /// padded keys get zero dk and dv. dropout, dropoutKey and dropoutOffset must be those of the forward call.
    /// </summary>
    public static void Backward(
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        ReadOnlySpan<float> probs, ReadOnlySpan<float> dContext, int ldContext,
        Span<float> dq, Span<float> dk, Span<float> dv, int ldGrad,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys,
        float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0) =>
        BackwardQueries(q, ld, seq, k, v, ld, probs, dContext, ldContext, dq, ldGrad, dk, dv, ldGrad, batch, seq, heads, headDim, scale, validKeys, dropout, dropoutKey, dropoutOffset);

    /// <summary>
    /// Gradients of <see cref="ForwardQueries"/>:
    /// dq laid out as q (row stride ldDq), dk and dv as k and v (row stride ldGrad). The additive
    /// mask is a constant and takes no gradient (masked keys have probability 0).
    /// </summary>
    public static void BackwardQueries(
        ReadOnlySpan<float> q, int ldq, int queryRows, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        ReadOnlySpan<float> probs, ReadOnlySpan<float> dContext, int ldContext,
        Span<float> dq, int ldDq, Span<float> dk, Span<float> dv, int ldGrad,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys,
        float dropout, ulong dropoutKey, long dropoutOffset = 0)
    {
        CheckDropout(dropout);
        Check(q.Length, ldq, queryRows, k.Length, v.Length, ld, batch, seq, heads, headDim, validKeys);
        Kernels.Need(probs.Length, batch * heads * queryRows, seq, nameof(probs));
        Gemm.CheckMatrix("dContext", dContext.Length, batch * queryRows, heads * headDim, ldContext);
        Gemm.CheckMatrix("dq", dq.Length, batch * queryRows, heads * headDim, ldDq);
        Gemm.CheckMatrix("dk", dk.Length, batch * seq, heads * headDim, ldGrad);
        Gemm.CheckMatrix("dv", dv.Length, batch * seq, heads * headDim, ldGrad);
        if (batch == 0 || seq == 0 || heads == 0 || queryRows == 0) return;
        fixed (float* pq = q, pk = k, pv = v, pp = probs, pdc = dContext, pdq = dq, pdk = dk, pdv = dv)
        fixed (int* pl = validKeys)
        {
            var job = new Job
            {
                Q = pq,
                LdQ = ldq,
                Rows = queryRows,
                K = pk,
                V = pv,
                Ld = ld,
                C = pdc,
                LdC = ldContext,
                P = pp,
                DQ = pdq,
                LdDQ = ldDq,
                DK = pdk,
                DV = pdv,
                LdG = ldGrad,
                Seq = seq,
                Heads = heads,
                HeadDim = headDim,
                Scale = scale,
                Valid = pl,
                Dropout = dropout,
                Key = dropoutKey,
                Offset = dropoutOffset,
            };
            Run(batch * heads, job, Simd.Lanes switch { Simd.Width.V512 => &BackwardOne<Vec512>, Simd.Width.V256 => &BackwardOne<Vec256>, _ => &BackwardOne<Vec128> }, 2);
        }
    }

    private static void Check(int q, int ldq, int queryRows, int k, int v, int ld, int batch, int seq, int heads, int headDim, ReadOnlySpan<int> validKeys)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(seq);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegative(queryRows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queryRows, seq);
        Gemm.CheckMatrix("q", q, batch * queryRows, heads * headDim, ldq);
        Gemm.CheckMatrix("k", k, batch * seq, heads * headDim, ld);
        Gemm.CheckMatrix("v", v, batch * seq, heads * headDim, ld);
        if (validKeys.Length < batch)
            throw new ArgumentException($"validKeys holds {validKeys.Length} lengths for a batch of {batch}", nameof(validKeys));
        for (int b = 0; b < batch; b++)
            if (validKeys[b] < 1 || validKeys[b] > seq)
                throw new ArgumentOutOfRangeException(nameof(validKeys), validKeys[b], $"validKeys[{b}] must be in [1, {seq}]");
    }

    private static void CheckDropout(float dropout)
    {
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "attention dropout must be in [0, 1)");
    }

    private struct Job
    {
        public float* Q, K, V, C, P, Add, DQ, DK, DV;
        public int LdQ, Rows, Ld, LdC, LdDQ, LdG, Seq, Heads, HeadDim;
        public float Scale, Dropout;
        public ulong Key;
        public long Offset;
        public int* Valid;
    }

    [ThreadStatic] private static Runner? runner;

    // A flop of attention takes about this many of a large product's: its products are a head deep
    // (32), and each score costs an exponential and the softmax's passes besides. Measured on AVX2, one
    // 32-token sequence: 9 GFLOP/s against the projections' 30.
    private const int CostPerFlop = 3;

    // passes: 1 for forward's two products per pair, 2 for backward's four; the cost model keeps
    // short sequences (a query's few tokens) on the calling thread.
    private static void Run(int count, Job job, delegate*<ref Job, int, void> one, int passes)
    {
        var r = runner ??= new Runner();
        r.Job = job;
        r.Fn = (nint)one;
        long flops = CostPerFlop * passes * 4L * count * job.Rows * job.Seq * job.HeadDim;
        WorkerPool.For(count, WorkerPool.Threads(flops, Gemm.ParallelGrainFlops), r.Body);
    }

    // Per calling thread, so concurrent callers never share one.
    private sealed class Runner
    {
        public readonly Action<int> Body;
        public Job Job;
        public nint Fn;

        public Runner() => Body = Run;

        private void Run(int t)
        {
            var local = Job;
            ((delegate*<ref Job, int, void>)Fn)(ref local, t);
        }
    }

    private static void ForwardOne<V>(ref Job j, int t) where V : unmanaged, IVec<V>
    {
        int b = t / j.Heads, h = t % j.Heads, seq = j.Seq, rows = j.Rows, dh = j.HeadDim, keys = j.Valid[b];
        long at = (long)b * seq * j.Ld + (long)h * dh;
        float* q = j.Q + (long)b * rows * j.LdQ + (long)h * dh;
        long block = (long)rows * seq;
        float* add = j.Add != null ? j.Add + (long)b * seq : null;
        float* c = j.C + (long)b * rows * j.LdC + (long)h * dh;
        bool direct = Direct<V>(keys, dh);
        if (KeyMajor(j, direct))
        {
            KeyMajorHead(q, j.LdQ, rows, j.K + at, j.V + at, j.Ld, keys, dh, j.Scale, add, c, j.LdC);
            return;
        }
        // Scratch: probabilities (when probs is not kept), dropped probabilities, and the direct path's kᵀ.
        float* work = (scratch ??= new AlignedBuffer()).Get(2 * block + (direct ? (long)DirectKeys * dh : 0));
        float* p = j.P != null ? j.P + t * block : work;
        if (direct) ScoresDirect<V>(q, j.LdQ, j.K + at, j.Ld, rows, keys, dh, j.Scale, p, seq, work + 2 * block);
        else Gemm.Run(false, true, rows, keys, dh, j.Scale, q, j.LdQ, j.K + at, j.Ld, null, 0, p, seq, serial: true);
        // Dropped probabilities go to scratch while the row is in L1: P itself is what backward needs.
        float* used = j.Dropout > 0 ? work + block : p;
        for (int i = 0; i < rows; i++)
        {
            float* row = p + (long)i * seq;
            Kernels.SoftmaxRow<V>(row, keys, 1, add);
            new Span<float>(row + keys, seq - keys).Clear();
            if (j.Dropout > 0) Drop<V>(row, used + (long)i * seq, keys, j.Dropout, j.Key, j.Offset + t * block + (long)i * seq);
        }
        if (direct) ContextDirect<V>(used, seq, j.V + at, j.Ld, rows, keys, dh, c, j.LdC);
        else Gemm.Run(false, false, rows, dh, keys, 1, used, seq, j.V + at, j.Ld, null, 0, c, j.LdC, serial: true);
    }

    /// <summary>
    /// Heads with at most this many keys (a short input's) take <see cref="ScoresDirect"/> and
    /// <see cref="ContextDirect"/> instead of two packed GEMMs: at 16 tokens, packing and dispatch
    /// cost ≈ 12 µs per head product, many times its 16 K multiply-adds.
    /// </summary>
    internal const int DirectKeys = 64;

    // The direct kernels need whole vectors across the head.
    private static bool Direct<V>(int keys, int dh) where V : unmanaged, IVec<V> => keys <= DirectKeys && dh % V.Count == 0;

    // s[i·lds + j] = scale · q_i·k_j for i < rows, j < keys, from rows of dh values (strides ldq, ldk).
    // k is copied transposed into kt [dh, width] (scratch; width = keys rounded up to whole vectors, zeros
    // past keys) so that each step over d is one load of a vector of keys' values shared by 8 broadcast query values
    // (AVX2: two vectors shared by 4, see Rows4x2).
    private static void ScoresDirect<V>(float* q, int ldq, float* k, int ldk, int rows, int keys, int dh, float scale, float* s, int lds, float* kt)
        where V : unmanaged, IVec<V>
    {
        int width = (keys + V.Count - 1) & ~(V.Count - 1);
        // Whole vectors' blocks of keys move through registers (16 × 16 on AVX-512, 8 × 8 on AVX2); only the last keys go
        // one value at a time (all of them that way cost a third of a 64-key head's time on AVX2).
        int full = keys & ~(V.Count - 1);
        if (V.Count == 16)
            for (int j0 = 0; j0 < full; j0 += 16)
                for (int d0 = 0; d0 < dh; d0 += 16)
                    Gemm.Transpose16(k + (long)j0 * ldk + d0, ldk, kt + (long)d0 * width + j0, width);
        else if (V.Count == 8 && Avx.IsSupported)
            for (int j0 = 0; j0 < full; j0 += 8)
                for (int d0 = 0; d0 < dh; d0 += 8)
                    Gemm.Transpose8(k + (long)j0 * ldk + d0, ldk, kt + (long)d0 * width + j0, width);
        else
            full = 0;
        for (int d = 0; d < dh; d++)
            for (int jj = full; jj < width; jj++)
                kt[d * width + jj] = jj < keys ? k[(long)jj * ldk + d] : 0;
        var vs = V.Create(scale);
        var r = stackalloc V[8];
        // AVX2: 16 keys at a time in blocks of 4 rows; the last 8 keys (if any) in Rows8's blocks below.
        int wide = V.Count == 8 ? keys & ~15 : 0;
        for (int i0 = 0; i0 < rows && wide > 0; i0 += 4)
        {
            int n = Math.Min(4, rows - i0);
            for (int j0 = 0; j0 < wide; j0 += 16)
            {
                Rows4x2(q, ldq, i0, rows, kt + j0, width, dh, r);
                for (int i = 0; i < n; i++)
                {
                    float* at = s + (long)(i0 + i) * lds + j0;
                    V.Store(r[2 * i] * vs, at);
                    V.Store(r[2 * i + 1] * vs, at + V.Count);
                }
            }
        }
        for (int i0 = 0; i0 < rows && wide < keys; i0 += 8)
        {
            int n = Math.Min(8, rows - i0);
            for (int j0 = wide; j0 < keys; j0 += V.Count)
            {
                Rows8(q, ldq, i0, rows, kt + j0, width, dh, r);
                // Past keys, the row may run into the next row or the next head's block: store only keys.
                int left = keys - j0;
                for (int i = 0; i < n; i++)
                {
                    float* at = s + (long)(i0 + i) * lds + j0;
                    if (left >= V.Count) V.Store(r[i] * vs, at);
                    else V.StoreFirst(r[i] * vs, at, left);
                }
            }
        }
    }

    // c[i·ldc + d] = Σ_{j < keys} p[i·ldp + j] · v[j·ldv + d] for i < rows, d < dh: 8 rows × one vector of
    // columns of c per pass over the keys, v's rows read in place.
    private static void ContextDirect<V>(float* p, int ldp, float* v, int ldv, int rows, int keys, int dh, float* c, int ldc)
        where V : unmanaged, IVec<V>
    {
        var r = stackalloc V[8];
        if (V.Count == 8 && dh % 16 == 0)
        {
            for (int i0 = 0; i0 < rows; i0 += 4)
            {
                int n = Math.Min(4, rows - i0);
                for (int d0 = 0; d0 < dh; d0 += 16)
                {
                    Rows4x2(p, ldp, i0, rows, v + d0, ldv, keys, r);
                    for (int i = 0; i < n; i++)
                    {
                        V.Store(r[2 * i], c + (long)(i0 + i) * ldc + d0);
                        V.Store(r[2 * i + 1], c + (long)(i0 + i) * ldc + d0 + V.Count);
                    }
                }
            }
            return;
        }
        for (int i0 = 0; i0 < rows; i0 += 8)
        {
            int n = Math.Min(8, rows - i0);
            for (int d0 = 0; d0 < dh; d0 += V.Count)
            {
                Rows8(p, ldp, i0, rows, v + d0, ldv, keys, r);
                for (int i = 0; i < n; i++) V.Store(r[i], c + (long)(i0 + i) * ldc + d0);
            }
        }
    }

    // The 8-row block both direct kernels are made of: r[i] = Σ_{t < count} a_i[t] · b[t·ldb … t·ldb + V.Count) for
    // the rows a_i = row i0 + i of a (a last group of fewer than 8 rows repeats its last row in the spare accumulators,
    // which the callers do not store); each load of a vector of b is shared by 8 broadcast values of a.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rows8<V>(float* a, int lda, int i0, int rows, float* b, int ldb, int count, V* r) where V : unmanaged, IVec<V>
    {
        float* a0 = a + (long)i0 * lda, a1 = Row(a, lda, i0 + 1, rows), a2 = Row(a, lda, i0 + 2, rows), a3 = Row(a, lda, i0 + 3, rows);
        float* a4 = Row(a, lda, i0 + 4, rows), a5 = Row(a, lda, i0 + 5, rows), a6 = Row(a, lda, i0 + 6, rows), a7 = Row(a, lda, i0 + 7, rows);
        V r0 = V.Zero, r1 = V.Zero, r2 = V.Zero, r3 = V.Zero;
        V r4 = V.Zero, r5 = V.Zero, r6 = V.Zero, r7 = V.Zero;
        for (int t = 0; t < count; t++, b += ldb)
        {
            var bv = V.Load(b);
            r0 = V.MultiplyAdd(V.Create(a0[t]), bv, r0);
            r1 = V.MultiplyAdd(V.Create(a1[t]), bv, r1);
            r2 = V.MultiplyAdd(V.Create(a2[t]), bv, r2);
            r3 = V.MultiplyAdd(V.Create(a3[t]), bv, r3);
            r4 = V.MultiplyAdd(V.Create(a4[t]), bv, r4);
            r5 = V.MultiplyAdd(V.Create(a5[t]), bv, r5);
            r6 = V.MultiplyAdd(V.Create(a6[t]), bv, r6);
            r7 = V.MultiplyAdd(V.Create(a7[t]), bv, r7);
        }
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) = (r0, r1, r2, r3, r4, r5, r6, r7);
    }

    // Rows8's AVX2 counterpart: 4 rows × two vectors, r[2i], r[2i + 1] = Σ_{t < count} a_i[t] · b[t·ldb … + 2·V.Count) (spare
    // rows repeat the last row, as there). Two vectors of b per broadcast value of a, as the GEMM's 6 × 16 kernel: one
    // broadcast per multiply-add (Rows8) left the AVX2 core's FMA units waiting; same-run, 11–16 % faster heads.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rows4x2<V>(float* a, int lda, int i0, int rows, float* b, int ldb, int count, V* r) where V : unmanaged, IVec<V>
    {
        float* a0 = a + (long)i0 * lda, a1 = Row(a, lda, i0 + 1, rows), a2 = Row(a, lda, i0 + 2, rows), a3 = Row(a, lda, i0 + 3, rows);
        V r0 = V.Zero, r1 = V.Zero, r2 = V.Zero, r3 = V.Zero;
        V r4 = V.Zero, r5 = V.Zero, r6 = V.Zero, r7 = V.Zero;
        for (int t = 0; t < count; t++, b += ldb)
        {
            var b0 = V.Load(b);
            var b1 = V.Load(b + V.Count);
            var x = V.Create(a0[t]);
            r0 = V.MultiplyAdd(x, b0, r0);
            r1 = V.MultiplyAdd(x, b1, r1);
            x = V.Create(a1[t]);
            r2 = V.MultiplyAdd(x, b0, r2);
            r3 = V.MultiplyAdd(x, b1, r3);
            x = V.Create(a2[t]);
            r4 = V.MultiplyAdd(x, b0, r4);
            r5 = V.MultiplyAdd(x, b1, r5);
            x = V.Create(a3[t]);
            r6 = V.MultiplyAdd(x, b0, r6);
            r7 = V.MultiplyAdd(x, b1, r7);
        }
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) = (r0, r1, r2, r3, r4, r5, r6, r7);
    }

    // Row i of a rows-row matrix, or its last row when i is past it (the spare lanes of a short group).
    private static float* Row(float* x, int ld, int i, int rows) => x + (long)Math.Min(i, rows - 1) * ld;

    private static void BackwardOne<V>(ref Job j, int t) where V : unmanaged, IVec<V>
    {
        int b = t / j.Heads, h = t % j.Heads, seq = j.Seq, rows = j.Rows, dh = j.HeadDim, keys = j.Valid[b];
        long at = (long)b * seq * j.Ld + (long)h * dh;
        long atG = (long)b * seq * j.LdG + (long)h * dh;
        float* q = j.Q + (long)b * rows * j.LdQ + (long)h * dh;
        long block = (long)rows * seq;
        float* p = j.P + t * block;
        float* dc = j.C + (long)b * rows * j.LdC + (long)h * dh;
        float* dv = j.DV + atG, dk = j.DK + atG, dq = j.DQ + (long)b * rows * j.LdDQ + (long)h * dh;

        float* ds = (scratch ??= new AlignedBuffer()).Get(3 * block);
        float* mask = ds + block, used = p;
        if (j.Dropout > 0)
        {
            // The forward's mask, rebuilt from its key; used = P ⊙ M as forward multiplied V by.
            used = ds + 2 * block;
            for (int i = 0; i < rows; i++)
            {
                long o = (long)i * seq;
                DropoutMask.Fill(mask + o, keys, j.Dropout, j.Key, j.Offset + t * block + o);
                Multiply<V>(p + o, mask + o, used + o, keys);
            }
        }
        // dV = (P ⊙ M)ᵀ·dC over the real keys.
        Gemm.Run(true, false, keys, dh, rows, 1, used, seq, dc, j.LdC, null, 0, dv, j.LdG, serial: true);
        // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), with dP = (dC·Vᵀ) ⊙ M.
        Gemm.Run(false, true, rows, keys, dh, 1, dc, j.LdC, j.V + at, j.Ld, null, 0, ds, seq, serial: true);
        for (int i = 0; i < rows; i++)
        {
            long o = (long)i * seq;
            if (j.Dropout > 0) Multiply<V>(ds + o, mask + o, ds + o, keys);
            Kernels.SoftmaxBackwardRow<V>(p + o, ds + o, ds + o, keys, j.Scale);
        }
        // dQ = dS·K, dK = dSᵀ·Q.
        Gemm.Run(false, false, rows, dh, keys, 1, ds, seq, j.K + at, j.Ld, null, 0, dq, j.LdDQ, serial: true);
        Gemm.Run(true, false, keys, dh, rows, 1, ds, seq, q, j.LdQ, null, 0, dk, j.LdG, serial: true);
        for (int i = keys; i < seq; i++)
        {
            new Span<float>(dk + (long)i * j.LdG, dh).Clear();
            new Span<float>(dv + (long)i * j.LdG, dh).Clear();
        }
    }

    // y[..n] = x ⊙ M for the mask at element index `index` of the call keyed `key`.
    private static void Drop<V>(float* x, float* y, int n, float p, ulong key, long index) where V : unmanaged, IVec<V>
    {
        DropoutMask.Fill(y, n, p, key, index);
        Multiply<V>(x, y, y, n);
    }

    // z = x ⊙ y over n values; z may alias x or y.
    internal static void Multiply(float* x, float* y, float* z, int n)
    {
        switch (Simd.Lanes)
        {
            case Simd.Width.V512: Multiply<Vec512>(x, y, z, n); break;
            case Simd.Width.V256: Multiply<Vec256>(x, y, z, n); break;
            default: Multiply<Vec128>(x, y, z, n); break;
        }
    }

    private static void Multiply<V>(float* x, float* y, float* z, int n) where V : unmanaged, IVec<V>
    {
        int c = 0;
        for (; c + V.Count <= n; c += V.Count) V.Store(V.Load(x + c) * V.Load(y + c), z + c);
        for (; c < n; c++) z[c] = x[c] * y[c];
    }
}
