using System.Runtime.InteropServices;
using System.Collections.Concurrent;

namespace BertSharp.Tensors.Native;

/// <summary>
/// The bf16 provider: each product's operands are rounded to bfloat16 (<see cref="Bf16"/>) and
/// multiplied by a oneDNN matmul primitive that accumulates and writes fp32, on AMX tiles where the
/// CPU has them. Weights prepared for inference are rounded once, and inference's feed-forward hands
/// its GELU activations from one product to the next in bf16. Small products (the pooler, the
/// classifier) stay on the managed kernels, where oneDNN's per-call cost and the conversions would
/// outweigh the faster multiply. Attention's per-head products run here too (<see cref="OneDnnAttention"/>).
/// </summary>
/// <remarks>
/// oneDNN compiles a kernel per shape, so primitives are cached per (shape, layout, bias, beta); a
/// run with dynamic padding meets one shape per distinct padded length, each compiled once (about a
/// millisecond). The cache lives as long as the process.
/// </remarks>
internal sealed unsafe class OneDnnMatMul : MatMul
{
    private const long MinFlops = 1L << 22;

    // Unprepared products convert both operands per call, which outweighs the faster multiply below this.
    private const int MinRows = 32;
    // Shorter sequences' head products are too small to pay for a native call each.
    private const int MinAttentionSeq = 32;
    // The row blocks of a prepared product's tasks (RunSplit): the block's output tile stays in cache for its copy.
    private const int SplitBlockRows = 256;

    private static readonly Lazy<OneDnnMatMul?> Shared = new(() => Dnnl.Library is { } api ? new OneDnnMatMul(api) : null);

    [ThreadStatic] private static AlignedBuffer? threadA, threadB, threadW;
    [ThreadStatic] private static string? lastImplementation;

    private readonly Dnnl.Api _api;
    private readonly ConcurrentDictionary<Key, Entry> _primitives = new();
    private readonly ConcurrentDictionary<AttentionKey, Entry> _attention = new();
    private readonly ConcurrentDictionary<(int Seq, int Heads, int HeadDim, int Pieces, bool Training), bool> _attentionShapes = new();
    private readonly OneDnnAttention _attentionKernels;

    private OneDnnMatMul(Dnnl.Api api)
    {
        _api = api;
        UsesAmx = api.UsesAmx;
        Name = UsesAmx ? "onednn-bf16-amx" : "onednn-bf16";
        _attentionKernels = new OneDnnAttention(this);
    }

    /// <summary>The provider, or null where oneDNN is not installed or the CPU has no native bf16.</summary>
    public static OneDnnMatMul? Instance => Shared.Value;

    public override ComputeProvider Provider => ComputeProvider.OneDnnBf16;

    public override string Name { get; }

    /// <summary>Whether oneDNN runs the products on AMX tiles.</summary>
    internal bool UsesAmx { get; }

    /// <summary>The oneDNN implementation that ran this thread's last product (ONEDNN_VERBOSE's name, e.g. brg:avx512_core_amx_bf16).</summary>
    internal static string? LastImplementation => lastImplementation;

    public override void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        float beta, Span<float> c, int ldc)
    {
        if (!Offloads(m, n, k, alpha))
        {
            Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, bias, beta, c, ldc);
            return;
        }
        CheckOutput(m, n, bias.Length, c.Length, ldc);
        int threads = Threads(2L * m * n * k);
        ushort* pa = Scratch(ref threadA, (long)m * k);
        ushort* pb = Scratch(ref threadB, (long)k * n);
        // Stored as given (A is [k, m] when transA): the descriptor's strides do the transposing.
        Bf16.Convert(a, transA ? k : m, transA ? m : k, lda, pa, threads);
        Bf16.Convert(b, transB ? n : k, transB ? k : n, ldb, pb, threads);
        Run(new Key(m, n, k, transA, transB, ldc, !bias.IsEmpty, beta), pa, pb, bias, c, threads);
    }

    public override void LinearBackward(int rows, int inFeatures, int outFeatures, ReadOnlySpan<float> x, int ldx,
        ReadOnlySpan<float> dy, int lddy, ReadOnlySpan<float> w, float dwBeta, Span<float> dW, Span<float> dx, int lddx, bool accumulateDx)
    {
        int m = rows, n = inFeatures, k = outFeatures;
        if (!Offloads(m, n, k, 1f) || !Offloads(k, n, m, 1f))
        {
            base.LinearBackward(rows, inFeatures, outFeatures, x, ldx, dy, lddy, w, dwBeta, dW, dx, lddx, accumulateDx);
            return;
        }
        CheckOutput(k, n, 0, dW.Length, n);
        if (!dx.IsEmpty) CheckOutput(m, n, 0, dx.Length, lddx);
        int threads = Threads(2L * m * n * k);
        ushort* pdy = Scratch(ref threadA, (long)m * k);
        ushort* px = Scratch(ref threadB, (long)m * n);
        Bf16.Convert(dy, m, k, lddy, pdy, threads);
        Bf16.Convert(x, m, n, ldx, px, threads);
        // dW (out × in) = dyᵀ x: dy [rows, out] read transposed.
        Run(new Key(k, n, m, true, false, n, false, dwBeta), pdy, px, default, dW, threads);
        if (dx.IsEmpty) return;
        ushort* pw = Scratch(ref threadW, (long)k * n);
        Bf16.Convert(w, k, n, n, pw, threads);
        Run(new Key(m, n, k, false, false, lddx, false, accumulateDx ? 1f : 0f), pdy, pw, default, dx, threads);
    }

    public override PreparedWeight Prepare(ReadOnlySpan<float> w, int n, int k)
    {
        var prepared = new Rounded(this, n, k);
        fixed (ushort* dst = prepared.Data) Bf16.Convert(w, n, k, k, dst, Gemm.MaxThreads);
        prepared.Block(_api);
        return prepared;
    }

    public override void Multiply(int m, ReadOnlySpan<float> x, int ldx, PreparedWeight w, ReadOnlySpan<float> bias, Span<float> y, int ldy, bool gelu = false)
    {
        if (w is not Rounded rounded || rounded.Owner != this)
            throw new ArgumentException("the weight was prepared by another provider", nameof(w));
        int n = w.N, k = w.K;
        if (!OffloadsPrepared(m, n, k))
        {
            // The fp32 weight is gone; the rounded one multiplies the same in fp32 on the managed
            // kernels, from panels packed once (packing the weight per call cost more than the product).
            Managed.Multiply(m, x, ldx, rounded.ManagedPanels(), bias, y, ldy, gelu);
            return;
        }
        CheckOutput(m, n, bias.Length, y.Length, ldy);
        int threads = Threads(2L * m * n * k);
        ushort* pa = Scratch(ref threadA, (long)m * k);
        Bf16.Convert(x, m, k, ldx, pa, threads);
        fixed (ushort* plain = rounded.Data)
        fixed (float* pbias = bias, py = y)
            RunPrepared(rounded, plain, rounded.Key(m, ldy, !bias.IsEmpty, gelu, false), pa, pbias, py, threads);
    }

    public override void FeedForward(int m, ReadOnlySpan<float> x, int ldx, PreparedWeight w1, ReadOnlySpan<float> b1,
        PreparedWeight w2, ReadOnlySpan<float> b2, Span<float> y, Span<float> activations)
    {
        if (w1 is not Rounded r1 || r1.Owner != this || w2 is not Rounded r2 || r2.Owner != this)
            throw new ArgumentException("the weights were prepared by another provider");
        int k = w1.K, hidden = w1.N, n = w2.N;
        if (w2.K != hidden) throw new ArgumentException($"W2 takes {w2.K} inputs but W1 gives {hidden}");
        if (!OffloadsPrepared(m, hidden, k) || !OffloadsPrepared(m, n, hidden))
        {
            base.FeedForward(m, x, ldx, w1, b1, w2, b2, y, activations);
            return;
        }
        if (!b1.IsEmpty && b1.Length != hidden) throw new ArgumentException($"b1 has {b1.Length} values, expected {hidden}", nameof(b1));
        CheckOutput(m, n, b2.Length, y.Length, n);
        int threads = Threads(2L * m * hidden * k);
        ushort* px = Scratch(ref threadA, (long)m * k);
        ushort* pg = Scratch(ref threadB, (long)m * hidden);
        Bf16.Convert(x, m, k, ldx, px, threads);
        fixed (ushort* plain1 = r1.Data, plain2 = r2.Data)
        fixed (float* pb1 = b1, pb2 = b2, py = y)
        {
            RunPrepared(r1, plain1, r1.Key(m, hidden, !b1.IsEmpty, gelu: true, dstBf16: true), px, pb1, pg, threads);
            RunPrepared(r2, plain2, r2.Key(m, n, !b2.IsEmpty, gelu: false, dstBf16: false), pg, pb2, py, threads);
        }
    }

    public override void SelfAttention(ReadOnlySpan<float> qkv, Span<float> context, ReadOnlySpan<int> validKeys,
        int batch, int seq, int heads, int headDim, float scale, Span<float> probs = default, float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0)
    {
        int pieces = OneDnnAttention.Pieces(batch, heads);
        if (seq < MinAttentionSeq || !(scale > 0) || !AttentionRunsNatively(seq, heads, headDim, pieces, training: !probs.IsEmpty || dropout > 0))
        {
            base.SelfAttention(qkv, context, validKeys, batch, seq, heads, headDim, scale, probs, dropout, dropoutKey, dropoutOffset);
            return;
        }
        CheckAttention(qkv.Length, context.Length, probs.Length, validKeys, batch, seq, heads, headDim, dropout);
        fixed (float* pqkv = qkv, pc = context, pp = probs)
        fixed (int* pv = validKeys)
            _attentionKernels.Forward(pqkv, pc, probs.IsEmpty ? null : pp, pv, batch, seq, heads, headDim, pieces, scale, dropout, dropoutKey, dropoutOffset);
    }

    public override void SelfAttentionBackward(ReadOnlySpan<float> qkv, ReadOnlySpan<float> probs, ReadOnlySpan<float> dContext, Span<float> dQkv,
        ReadOnlySpan<int> validKeys, int batch, int seq, int heads, int headDim, float scale, float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0)
    {
        int pieces = OneDnnAttention.Pieces(batch, heads);
        if (seq < MinAttentionSeq || !AttentionRunsNatively(seq, heads, headDim, pieces, training: true))
        {
            base.SelfAttentionBackward(qkv, probs, dContext, dQkv, validKeys, batch, seq, heads, headDim, scale, dropout, dropoutKey, dropoutOffset);
            return;
        }
        CheckAttention(qkv.Length, dContext.Length, probs.Length, validKeys, batch, seq, heads, headDim, dropout);
        Kernels.Need(probs.Length, batch * heads * seq, seq, nameof(probs));
        Gemm.CheckMatrix("dQkv", dQkv.Length, batch * seq, 3 * heads * headDim, 3 * heads * headDim);
        fixed (float* pqkv = qkv, pp = probs, pdc = dContext, pd = dQkv)
        fixed (int* pv = validKeys)
            _attentionKernels.Backward(pqkv, pp, pdc, pd, pv, batch, seq, heads, headDim, pieces, scale, dropout, dropoutKey, dropoutOffset);
    }

    private static void CheckAttention(int qkv, int context, int probs, ReadOnlySpan<int> validKeys, int batch, int seq, int heads, int headDim, float dropout)
    {
        int c = heads * headDim;
        Gemm.CheckMatrix("qkv", qkv, batch * seq, 3 * c, 3 * c);
        Gemm.CheckMatrix("context", context, batch * seq, c, c);
        if (probs != 0) Kernels.Need(probs, batch * heads * seq, seq, nameof(probs));
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        if (validKeys.Length < batch) throw new ArgumentException($"validKeys has {validKeys.Length} entries for {batch} sequences", nameof(validKeys));
        for (int b = 0; b < batch; b++)
            if ((uint)validKeys[b] > (uint)seq)
                throw new ArgumentOutOfRangeException(nameof(validKeys), $"sequence {b} has {validKeys[b]} valid keys, more than {seq}");
    }

    // One batched per-head product of the attention kernels (see OneDnnAttention.Kind), on this thread's share of cores.
    internal void Attention(OneDnnAttention.Kind kind, int heads, int seq, int headDim, int ldContext, void* a, void* b, float* dst) =>
        Execute(AttentionEntry(new AttentionKey(kind, heads, seq, headDim, ldContext)), a, b, null, dst, Threads(2L * heads * seq * seq * headDim));

    private Entry AttentionEntry(AttentionKey key) => _attention.GetOrAdd(key, static (k, api) => Entry.For(api, k), _api);

    // Whether every product the attention kernels need for this shape has a real oneDNN kernel (where
    // one would fall to the reference kernel, the managed fused kernel runs the whole attention instead).
    private bool AttentionRunsNatively(int seq, int heads, int headDim, int pieces, bool training) =>
        _attentionShapes.GetOrAdd((seq, heads, headDim, pieces, training), static (shape, self) =>
        {
            var (t, h, d, pieces, train) = shape;
            OneDnnAttention.Kind[] kinds = train
                ? [OneDnnAttention.Kind.Scores, OneDnnAttention.Kind.Context, OneDnnAttention.Kind.Product, OneDnnAttention.Kind.TransposedProduct]
                : [OneDnnAttention.Kind.Scores, OneDnnAttention.Kind.Context];
            foreach (int g in OneDnnAttention.GroupSizes(t, h, pieces))
                foreach (var kind in kinds)
                    if (self.AttentionEntry(new AttentionKey(kind, g, t, d, kind == OneDnnAttention.Kind.Context ? h * d : 0)).IsReference) return false;
            return true;
        }, this);

    // Inside a loop's task (a block of rows) the call gets one thread: the loop has the others.
    // Elsewhere the cost model's count, one for all but large products on a contended CPU.
    private static int Threads(long flops) => WorkerPool.InLoop ? 1 : WorkerPool.Threads(flops, Gemm.ParallelGrainFlops);

    private static bool Offloads(int m, int n, int k, float alpha) =>
        alpha == 1f && m >= MinRows && 2L * m * n * k >= MinFlops;

    // A prepared (already rounded and blocked) weight leaves only x to convert, so a short input
    // pays too: at 16 rows oneDNN ran minilm-l6's products 2-2.5x faster than the managed fp32
    // kernels on the widened weight (bench --grid, 1 x 16), half the weight bytes being read.
    private static bool OffloadsPrepared(int m, int n, int k) => m > 0 && 2L * m * n * k >= MinFlops;

    private static void CheckOutput(int m, int n, int biasLength, int cLength, int ldc)
    {
        Gemm.CheckMatrix("C", cLength, m, n, ldc);
        if (biasLength != 0 && biasLength != n) throw new ArgumentException($"bias has {biasLength} values, expected {n}");
    }

    private static ushort* Scratch(ref AlignedBuffer? buffer, long elements) =>
        (ushort*)(buffer ??= new AlignedBuffer()).Get((elements + 1) / 2);

    private void Run(Key key, ushort* a, ushort* b, ReadOnlySpan<float> bias, Span<float> c, int threads)
    {
        fixed (float* pc = c)
        fixed (float* pbias = bias)
            Run(key, a, b, pbias, pc, threads);
    }

    private void Run(Key key, ushort* a, ushort* b, float* bias, void* c, int threads) => Execute(EntryFor(key), a, b, bias, c, threads);

    // blockedLayout: with key.Blocked, the layout B is in (one prepared weight's; all weights of one
    // shape share it).
    private Entry EntryFor(Key key, byte* blockedLayout = null) =>
        _primitives.GetOrAdd(key, static (k, s) => Entry.For(s.Api, k, (byte*)s.Layout), (Api: _api, Layout: (nint)blockedLayout));

    // A product on a prepared weight: on its blocked copy where oneDNN has a real kernel for the shape,
    // else on the plain one. oneDNN 2.6 has neither an AMX nor a jit kernel for the blocked layout with
    // some outputs (a row stride wider than the row, as the [CLS]-only last layer's keys and values
    // are written), and its reference kernel there is hundreds of times slower than gemm:jit on the
    // plain layout.
    private void RunPrepared(Rounded w, ushort* plain, Key key, ushort* a, float* bias, void* c, int threads)
    {
        if (threads > 1 && key.Blocked && w.Parts is { } parts && RunSplit(parts, key, a, bias, c, threads)) return;
        if (key.Blocked)
        {
            var blocked = EntryFor(key, w.BlockedLayout);
            if (!blocked.IsReference)
            {
                Execute(blocked, a, w.Blocked, bias, c, threads);
                return;
            }
            key = key with { Blocked = false };
        }
        Run(key, a, plain, bias, c, threads);
    }

    // A prepared product as tasks on the worker pool, one per (block of up to SplitBlockRows rows,
    // column part of the weight), each a single-threaded oneDNN call into a dense scratch tile. Not
    // OpenMP's threads: its fork waits for a sleeping worker (0.2–2 ms to wake on a 2-vCPU VM, longer
    // than a short input's product) and on a shared CPU for a descheduled one, where the pool's caller
    // takes over the tasks nobody started. False (nothing run) where a tile has no real kernel.
    private bool RunSplit(Rounded.Part[] parts, Key key, ushort* a, float* bias, void* c, int threads)
    {
        int block = Math.Min(key.M, SplitBlockRows), blocks = (key.M + block - 1) / block;
        foreach (var part in parts)
            if (Tile(key, part, block).IsReference || Tile(key, part, key.M - (blocks - 1) * block).IsReference) return false;
        var job = threadSplit ??= new SplitJob(this);
        (job.Parts, job.Key, job.Block) = (parts, key, block);
        job.A = a;
        job.Bias = bias;
        job.C = (byte*)c;
        try
        {
            WorkerPool.For(blocks * parts.Length, threads, job.Body);
        }
        finally
        {
            job.Parts = null;
        }
        return true;
    }

    // Rows × part's columns of key's product, written dense: oneDNN 2.6 has no kernel for a blocked
    // weight with an output row stride wider than the row.
    private Entry Tile(Key key, Rounded.Part part, int rows) => EntryFor(key with { M = rows, N = part.Width, Ldc = part.Width }, part.Layout);

    [ThreadStatic] private static SplitJob? threadSplit;
    [ThreadStatic] private static AlignedBuffer? threadTile;

    // Per calling thread, so that a warm call allocates nothing.
    private sealed class SplitJob
    {
        public readonly Action<int> Body;
        public Rounded.Part[]? Parts;
        public Key Key;
        public int Block;
        public ushort* A;
        public float* Bias;
        public byte* C;
        private readonly OneDnnMatMul _owner;

        public SplitJob(OneDnnMatMul owner)
        {
            _owner = owner;
            Body = Run;
        }

        // Task t: rows [r0, r0 + rows) × part p's columns into this thread's tile, then into C.
        private void Run(int t)
        {
            var part = Parts![t % Parts.Length];
            int r0 = t / Parts.Length * Block, rows = Math.Min(Block, Key.M - r0);
            int bytes = Key.DstBf16 ? sizeof(ushort) : sizeof(float), row = part.Width * bytes;
            byte* tile = (byte*)(threadTile ??= new AlignedBuffer()).Get(((long)rows * row + 3) / 4);
            _owner.Execute(_owner.Tile(Key, part, rows), A + (long)r0 * Key.K, part.Blocked, Bias == null ? null : Bias + part.N0, tile, 1);
            for (int r = 0; r < rows; r++)
                Buffer.MemoryCopy(tile + (long)r * row, C + ((long)(r0 + r) * Key.Ldc + part.N0) * bytes, row, row);
        }
    }

    private void Execute(Entry entry, void* a, void* b, float* bias, void* c, int threads)
    {
        var instance = entry.Rent();
        try
        {
            var args = stackalloc Dnnl.ExecArg[4];
            int count = 0;
            args[count++] = Bind(Dnnl.ArgSrc, instance.Src, a);
            args[count++] = Bind(Dnnl.ArgWeights, instance.Weights, b);
            args[count++] = Bind(Dnnl.ArgDst, instance.Dst, c);
            if (instance.Bias != 0) args[count++] = Bind(Dnnl.ArgBias, instance.Bias, bias);
            _api.Execute(instance.Primitive, args, count, threads);
        }
        finally
        {
            entry.Return(instance);
        }
        lastImplementation = entry.Implementation;
    }

    private Dnnl.ExecArg Bind(int arg, nint memory, void* data)
    {
        _api.SetHandle(memory, data);
        return new Dnnl.ExecArg { Arg = arg, Memory = memory };
    }

    // DstBf16: C is written as bf16 (dense, row stride Ldc), for a product that only feeds another.
    // Blocked: B is a prepared weight in the layout oneDNN chose for it (see Rounded.Block).
    private readonly record struct Key(int M, int N, int K, bool TransA, bool TransB, int Ldc, bool Bias, float Beta, bool Gelu = false, bool DstBf16 = false, bool Blocked = false);

    // One sequence's attention product for a group of heads, batched over the heads.
    private readonly record struct AttentionKey(OneDnnAttention.Kind Kind, int Heads, int Seq, int HeadDim, int LdContext);

    // A compiled product and its instances. oneDNN 2.6 gives wrong results when two threads execute
    // one primitive object at once, so each concurrent caller takes an instance of its own (a
    // primitive compiled from the same descriptors, and the memory objects its calls point at their
    // buffers); there are as many as calls ever overlapped, usually one per worker thread.
    private sealed class Entry
    {
        private readonly Dnnl.Api _api;
        private readonly Compiled _first;
        private readonly float _sum;
        private readonly bool _gelu;
        private readonly ConcurrentBag<Compiled> _idle = [];

        // src, weights, bias (null for none) and dst describe the operands; oneDNN copies them.
        public Entry(Dnnl.Api api, byte* src, byte* weights, byte* bias, byte* dst, float sum, bool gelu)
        {
            _api = api;
            (_sum, _gelu) = (sum, gelu);
            _first = Compile(src, weights, bias, dst, out var implementation);
            Implementation = implementation;
            _idle.Add(_first);
        }

        public static Entry For(Dnnl.Api api, Key key, byte* blockedLayout)
        {
            byte* src = stackalloc byte[Dnnl.MemoryDescBytes];
            byte* plainWeights = stackalloc byte[Dnnl.MemoryDescBytes];
            byte* bias = stackalloc byte[Dnnl.MemoryDescBytes];
            byte* dst = stackalloc byte[Dnnl.MemoryDescBytes];
            api.MemoryDesc(src, key.M, key.K, Dnnl.Bf16, key.TransA ? 1 : key.K, key.TransA ? key.M : 1);
            // oneDNN copies descriptors it is given, so the prepared weight's own layout serves as is.
            byte* weights = key.Blocked ? blockedLayout : plainWeights;
            if (!key.Blocked) api.MemoryDesc(weights, key.K, key.N, Dnnl.Bf16, key.TransB ? 1 : key.N, key.TransB ? key.K : 1);
            api.MemoryDesc(dst, key.M, key.N, key.DstBf16 ? Dnnl.Bf16 : Dnnl.F32, key.Ldc, 1);
            if (key.Bias) api.MemoryDesc(bias, 1, key.N, Dnnl.F32, key.N, 1);
            return new Entry(api, src, weights, key.Bias ? bias : null, dst, key.Beta, key.Gelu);
        }

        public static Entry For(Dnnl.Api api, AttentionKey key)
        {
            byte* src = stackalloc byte[Dnnl.MemoryDescBytes];
            byte* weights = stackalloc byte[Dnnl.MemoryDescBytes];
            byte* dst = stackalloc byte[Dnnl.MemoryDescBytes];
            long g = key.Heads, t = key.Seq, d = key.HeadDim;
            switch (key.Kind)
            {
                case OneDnnAttention.Kind.Scores:
                    api.MemoryDesc(src, [g, t, d], [t * d, d, 1], Dnnl.Bf16);
                    // Bᵀ: the second operand's (t × d) blocks read column-wise.
                    api.MemoryDesc(weights, [g, d, t], [t * d, 1, d], Dnnl.Bf16);
                    api.MemoryDesc(dst, [g, t, t], [t * t, t, 1], Dnnl.F32);
                    break;
                case OneDnnAttention.Kind.Context:
                    // Head h's context is the column block h·d of the sequence's rows. oneDNN 2.6 runs that
                    // strided output on AMX only with a fourth (unit) dimension in front; as (g, t, d) it
                    // falls back to gemm:jit at less than half the speed.
                    api.MemoryDesc(src, [1, g, t, t], [g * t * t, t * t, t, 1], Dnnl.Bf16);
                    api.MemoryDesc(weights, [1, g, t, d], [g * t * d, t * d, d, 1], Dnnl.Bf16);
                    api.MemoryDesc(dst, [1, g, t, d], [t * key.LdContext, d, key.LdContext, 1], Dnnl.F32);
                    break;
                default:
                    // Aᵀ for the transposed product: the first operand's (t × t) blocks read column-wise.
                    bool transposed = key.Kind == OneDnnAttention.Kind.TransposedProduct;
                    api.MemoryDesc(src, [g, t, t], transposed ? [t * t, 1, t] : [t * t, t, 1], Dnnl.Bf16);
                    api.MemoryDesc(weights, [g, t, d], [t * d, d, 1], Dnnl.Bf16);
                    api.MemoryDesc(dst, [g, t, d], [t * d, d, 1], Dnnl.F32);
                    break;
            }
            return new Entry(api, src, weights, null, dst, 0f, false);
        }

        public string Implementation { get; }

        /// <summary>Whether oneDNN fell back to its reference kernel (correct, but far too slow to use).</summary>
        public bool IsReference => Implementation.StartsWith("ref", StringComparison.Ordinal);

        public Compiled Rent()
        {
            if (_idle.TryTake(out var instance)) return instance;
            var (f, api) = (_first, _api);
            return Compile(api.DescriptorOf(f.Src), api.DescriptorOf(f.Weights), f.Bias != 0 ? api.DescriptorOf(f.Bias) : null, api.DescriptorOf(f.Dst), out _);
        }

        public void Return(Compiled instance) => _idle.Add(instance);

        private Compiled Compile(byte* src, byte* weights, byte* bias, byte* dst, out string implementation) =>
            new(_api.CreateMatMul(src, weights, bias, dst, _sum, _gelu, out implementation),
                _api.Memory(src), _api.Memory(weights), _api.Memory(dst), bias != null ? _api.Memory(bias) : 0);
    }

    private sealed record Compiled(nint Primitive, nint Src, nint Weights, nint Dst, nint Bias);

    // W [n, k] rounded to bf16 once; read as op(B) = Wᵀ through the descriptor's strides, and copied
    // once more into the blocked layout oneDNN's AMX kernels read without re-packing it on every call
    // (which costs as much as the product itself for a 256-row block).
    private sealed class Rounded(MatMul owner, int n, int k) : PreparedWeight(owner, n, k)
    {
        private Dnnl.Api? _api;

        // Every blocked copy allocated (the whole weight's, the parts'), freed with the weight.
        private readonly List<Part> _blocked = [];
        private Part? _whole;

        public ushort* Blocked => _whole is null ? null : _whole.Blocked;

        public byte* BlockedLayout => _whole is null ? null : _whole.Layout;

        // Makes the blocked copies; where oneDNN cannot, the plain one serves (products re-pack it per call).
        public void Block(Dnnl.Api api)
        {
            _api = api;
            try
            {
                _whole = BlockColumns(api, 0, N);
                Parts = Split(api);
            }
            catch (InvalidOperationException)
            {
            }
        }

        /// <summary>Columns [N0, N0 + Width) of the product: rows of W, blocked on their own.</summary>
        public sealed class Part(int n0, int width)
        {
            public int N0 { get; } = n0;
            public int Width { get; } = width;
            public ushort* Blocked { get; set; }

            // Where Blocked lives when in huge-page memory (freed with the block), else null (AlignedFree).
            public HugePages.Block? Memory { get; set; }
            public byte* Layout { get; set; }
            public nint LayoutOwner { get; set; }
        }

        /// <summary>
        /// One part per core (at least 64 columns each, on 16-column bounds), together a second blocked copy of
        /// the weight; null on one core.
        /// </summary>
        public Part[]? Parts { get; private set; }

        private Part[]? Split(Dnnl.Api api)
        {
            int count = Math.Min(Environment.ProcessorCount, N / 64);
            if (count < 2) return null;
            var parts = new Part[count];
            for (int p = 0; p < count; p++)
            {
                int n0 = N / 16 * p / count * 16, n1 = p == count - 1 ? N : N / 16 * (p + 1) / count * 16;
                parts[p] = BlockColumns(api, n0, n1 - n0);
            }
            return parts;
        }

        // W's rows [n0, n0 + width) (the product's columns) copied into the layout oneDNN prefers for them.
        private Part BlockColumns(Dnnl.Api api, int n0, int width)
        {
            var part = new Part(n0, width) { LayoutOwner = api.PreferredWeights(256, K, width, out var layout) };
            _blocked.Add(part);
            part.Layout = layout;
            long bytes = api.Size(layout);
            part.Memory = HugePages.Rent(bytes);
            part.Blocked = part.Memory is { } block ? (ushort*)block.Pointer : (ushort*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            byte* plain = stackalloc byte[Dnnl.MemoryDescBytes];
            api.MemoryDesc(plain, K, width, Dnnl.Bf16, 1, K);
            fixed (ushort* data = Data) api.Reorder(plain, data + (long)n0 * K, layout, part.Blocked);
            return part;
        }

        // The product y (m × N, row stride ldy) = x·Wᵀ on this weight, blocked where it has the copy.
        public Key Key(int m, int ldy, bool bias, bool gelu, bool dstBf16) =>
            new(m, N, K, false, true, ldy, bias, 0f, gelu, dstBf16, Blocked: BlockedLayout != null);

        ~Rounded()
        {
            foreach (var part in _blocked)
            {
                if (part.Memory is null) NativeMemory.AlignedFree(part.Blocked);
                _api!.DestroyPrimitiveDesc(part.LayoutOwner);
            }
        }

        private PreparedWeight? _panels;

        public ushort[] Data { get; } = GC.AllocateUninitializedArray<ushort>(checked(n * k), pinned: true);

        // The rounded values widened to fp32 and packed for the managed kernels, made on first use,
        // for the products too small to offload (short inputs: a query's few tokens).
        public PreparedWeight ManagedPanels()
        {
            var p = Volatile.Read(ref _panels);
            if (p is null)
            {
                var w = GC.AllocateUninitializedArray<float>(Data.Length);
                for (int i = 0; i < w.Length; i++) w[i] = Bf16.ToSingle(Data[i]);
                // Two threads may both build it; either copy is right.
                p = Managed.Prepare(w, N, K);
                Volatile.Write(ref _panels, p);
            }
            return p;
        }
    }
}
