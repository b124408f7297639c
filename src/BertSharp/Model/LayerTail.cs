using BertSharp.Tensors;
using BertSharp.Tensors.Native;

namespace BertSharp.Model;

/// <summary>
/// Inference's blocked layer. Everything after attention is row-local, so each task takes a block of
/// rows through attention-output projection, residual LayerNorm, intermediate GEMM, GELU, output
/// projection and residual LayerNorm while the block's (rows × intermediate) activations stay in the
/// core's L2 cache; the threads split rows, not GEMMs, so there is one fork/join per layer instead of
/// one per operation. Whole sequences are independent too, so a block of them can also run its
/// query/key/value projection and attention (<see cref="RunLayer"/>): the layer never leaves the
/// cache, and every product is single-threaded (on a native provider with AMX, on a block tall enough for its tiles).
/// Too few sequences for that, a managed layer takes a loop per block of query rows, its attention over the sequence's
/// keys and the tail, and the next layer's projection of those rows (<see cref="RunQueryBlocks"/>): one join a layer.
/// </summary>
/// <remarks>Needs packed weights (a block's GEMM re-packing its weight each time would cost more than it saves).</remarks>
internal sealed class LayerTail
{
    // Managed: 8 microkernel rows of 12, about 0.6 MB of intermediate activations per block at
    // MiniLM's width. oneDNN's AMX kernels want taller blocks (1.5 MB, still within a core's L2).
    private const int BlockRows = 96, NativeBlockRows = 256;

    // Managed blocks (whole-layer blocks of short sequences, a long sequence's query blocks): 64 rows, which stream
    // each weight once per 64 rows and fill the 6-row microkernel's strips; where that leaves fewer than two blocks,
    // 32 rows, so that two threads still share the work (a 64-token sequence splits into two). Against 32 rows
    // throughout, same-run A/B: one 128–512-token sequence 5–10 % faster on one thread and two; 8 × 16, 32 × 16 and
    // 32 × 32 3–5 % quiet; beside two busy threads 8–23 % (96-row layer blocks: faster quiet, slower there).
    private const int TallRows = 64, ShortRows = 32;

    [ThreadStatic] private static Scratch? scratch;

    public readonly Action<int> Body, LayerBody, ProjectBody, AttendBody;
    private AlignedArray _qkv = null!, _nextQkv = null!;
    private BertLayer _layer = null!;
    private BertLayer? _next;
    private float[] _context = [], _x = [], _a1 = [], _out = [];
    private int[] _valid = [];
    private RowBlocks _blocks;
    private int _rows, _batch, _seq, _sequencesPerBlock, _queryRows, _queryBlocks;

    // RunQueryBlocks' projections, two so that a layer's loop can write the next layer's while its own tasks still read
    // its keys and values; _ahead names the layer, input and rows whose projection _projections[_ahead.Index] holds.
    private readonly AlignedArray[] _projections = [new(), new()];
    private (BertLayer? Layer, float[]? Input, int Rows, int Index) _ahead;

    public LayerTail()
    {
        Body = Block;
        LayerBody = LayerBlock;
        ProjectBody = ProjectBlock;
        AttendBody = AttendBlock;
    }

    /// <summary>Whether blocking pays: enough rows to give every thread several blocks.</summary>
    public static bool Worthwhile(int rows, MatMul matMul) => rows >= 4 * RowsPerBlock(matMul) * Gemm.MaxThreads;

    /// <summary>
    /// Whether <see cref="RunLayer"/> applies: right padding (the fused attention kernel), and on a native
    /// provider at least two blocks of whole sequences per thread; managed, at least two blocks, each no
    /// taller than the layer tail's block (sequences up to 96 tokens).
    /// </summary>
    /// <remarks>
    /// Managed, the shape alone decides, never the load (though on a CPU busy with other work a batch may reach
    /// here split into parts, BertModel.SequenceChunks, each part's shape deciding for itself). Short sequences gain
    /// most: the per-operation pass opens a dozen loops a layer and on a CPU shared with busy processes ran them on one thread (a hand-off
    /// per product did not pay); this path opens one, long enough for every thread even there: 8 × 16 tokens
    /// beside two busy threads went from 0.93–1.02× ONNX Runtime to 1.2–1.3×. Longer sequences keep the
    /// per-operation projections and attention and the blocked tail: one 128-token sequence per block ran
    /// 32 × 128 some 4 % slower on one thread.
    /// </remarks>
    public static bool WholeLayerWorthwhile(int batch, int seq, KeyMask mask, MatMul matMul)
    {
        if (mask.Holes) return false;
        if (matMul.Provider != ComputeProvider.Managed) return batch >= 2 * Gemm.MaxThreads * SequencesPerBlock(batch, seq, matMul);
        return seq <= BlockRows && batch >= 2 * SequencesPerBlock(batch, seq, matMul);
    }

    /// <summary>
    /// Whether <see cref="RunQueryBlocks"/> applies: managed, right padding, sequences of two query blocks
    /// or more (64 tokens), and too few rows for the blocked tail (a lone sequence up to 512 tokens).
    /// </summary>
    /// <remarks>
    /// A lone 128-token sequence beside two busy threads ran its per-operation loops on one thread; the loops
    /// here run on both: with two a layer, 1.35× its one-thread speed there (was 0.99×), 1.66–1.73× quiet (1.54–1.66×);
    /// one a layer since (see RunQueryBlocks).
    /// </remarks>
    public static bool QueryBlocksWorthwhile(int rows, int seq, KeyMask mask, MatMul matMul) =>
        matMul.Provider == ComputeProvider.Managed && !mask.Holes && seq >= 2 * ShortRows && !Worthwhile(rows, matMul);

    private static int RowsPerBlock(MatMul matMul) => matMul.Provider == ComputeProvider.Managed ? BlockRows : NativeBlockRows;

    // Native blocks: NativeBlockRows where the batch gives every thread two of them, else as short as that takes, down to
    // ShortNativeRows, so that a batch too small for 256-row blocks still runs one loop a layer. Per operation, beside two
    // busy threads, its products ran on the caller alone: 32 × 16 tokens in bf16 (AVX512-BF16, no AMX) went from 295–314
    // to 369–395 samples/s with 128-row blocks, and quiet 8 × 32 and 8 × 64 gained 7–13 % (docs/BENCHMARKS.md). Not
    // on AMX, whose tiles were measured at 256 rows only.
    private const int ShortNativeRows = 64;

    private static int SequencesPerBlock(int batch, int seq, MatMul matMul)
    {
        if (matMul.Provider == ComputeProvider.Managed) return UnitsPerBlock(batch, seq);
        int rows = Math.Max(1, seq), tall = Math.Max(1, NativeBlockRows / rows);
        if (matMul is not OneDnnMatMul { UsesAmx: false }) return tall;
        return Math.Max((ShortNativeRows + rows - 1) / rows, Math.Min(tall, batch / (2 * Gemm.MaxThreads)));
    }

    // A managed block's units of unitRows rows each (sequences, or single rows) out of count: TallRows' worth when
    // count holds two such blocks, else ShortRows' worth.
    private static int UnitsPerBlock(int count, int unitRows)
    {
        int tall = Math.Max(1, TallRows / Math.Max(1, unitRows));
        return count >= 2 * tall ? tall : Math.Max(1, ShortRows / Math.Max(1, unitRows));
    }

    // context, x (N,C) → a1 (N,C), output (N,C).
    public void Run(BertLayer layer, float[] context, float[] x, float[] a1, float[] output, int rows)
    {
        (_layer, _context, _x, _a1, _out) = (layer, context, x, a1, output);
        // Whole strips of the kernels' rows: the managed microkernel's 12, AMX's 16-row tiles.
        var mm = layer.Intermediate.Dense.MatMul;
        bool managed = mm.Provider == ComputeProvider.Managed;
        _blocks = RowBlocks.Balanced(rows, managed ? Gemm.MR : 16, RowsPerBlock(mm), Gemm.MaxThreads);
        try
        {
            // Every thread, even on a contended CPU: Worthwhile gave each several blocks, each a whole
            // layer tail for its rows (milliseconds), which outlasts a helper's lost time slice.
            WorkerPool.For(_blocks.Count, Gemm.MaxThreads, Body);
        }
        finally
        {
            (_context, _x, _a1, _out) = ([], [], [], []);
        }
    }

    // The whole layer, x (B·T, C) → output (B·T, C), blocks of whole sequences per task.
    public void RunLayer(BertLayer layer, float[] x, KeyMask mask, float[] output, int batch, int seq)
    {
        (_layer, _x, _out, _valid, _batch, _seq) = (layer, x, output, mask.Valid, batch, seq);
        _sequencesPerBlock = SequencesPerBlock(batch, seq, layer.Intermediate.Dense.MatMul);
        try
        {
            WorkerPool.For((batch + _sequencesPerBlock - 1) / _sequencesPerBlock, Gemm.MaxThreads, LayerBody);
        }
        finally
        {
            (_x, _out, _valid) = ([], [], []);
        }
    }

    // The whole layer, x (B·T, C) → output (B·T, C), in two loops: the query/key/value projection by blocks of rows,
    // then per block of a sequence's query rows its attention, output projection and feed-forward. Given the next layer
    // (which must take this path too), each task of the second loop also projects its output rows through the next
    // layer's weights, and the next layer's call skips its first loop: a pass then joins its threads once a layer, not
    // twice, and on a CPU shared with busy processes each join can wait out a time slice the other thread lost (lone
    // 64–128-token sequences beside two busy threads some 4 % faster, quiet 1 × 64 some 6 %; docs/BENCHMARKS.md).
    public void RunQueryBlocks(BertLayer layer, BertLayer? next, float[] x, KeyMask mask, float[] output, int batch, int seq)
    {
        int C = layer.Output.Dense.Out, N = batch * seq;
        var ahead = _ahead;
        _ahead = default;
        bool projected = ReferenceEquals(ahead.Layer, layer) && ReferenceEquals(ahead.Input, x) && ahead.Rows == N;
        int current = projected ? ahead.Index : 0;
        (_layer, _next, _x, _out, _valid, _seq, _rows) = (layer, next, x, output, mask.Valid, seq, N);
        (_qkv, _nextQkv) = (_projections[current], _projections[1 - current]);
        _queryRows = UnitsPerBlock(seq, 1);
        _queryBlocks = (seq + _queryRows - 1) / _queryRows;
        _qkv.Ensure(N * 3 * C);
        if (next is not null) _nextQkv.Ensure(N * 3 * C);
        try
        {
            // Every thread, even on a contended CPU: each loop is (about) a layer, milliseconds long.
            if (!projected) WorkerPool.For((N + _queryRows - 1) / _queryRows, Gemm.MaxThreads, ProjectBody);
            WorkerPool.For(batch * _queryBlocks, Gemm.MaxThreads, AttendBody);
            if (next is not null) _ahead = (next, output, N, 1 - current);
        }
        finally
        {
            (_x, _out, _valid, _next) = ([], [], [], null);
            (_qkv, _nextQkv) = (null!, null!);
        }
    }

    private void ProjectBlock(int block)
    {
        int C = _layer.Output.Dense.Out, r0 = block * _queryRows, n = Math.Min(_queryRows, _rows - r0);
        _layer.SelfAttention.ProjectRows(_x.AsSpan(r0 * C, n * C), _qkv.AsSpan(r0 * 3 * C, n * 3 * C), n);
    }

    private void AttendBlock(int task)
    {
        var layer = _layer;
        int C = layer.Output.Dense.Out, T = _seq, b = task / _queryBlocks, q0 = task % _queryBlocks * _queryRows;
        int n = Math.Min(_queryRows, T - q0), r0 = b * T + q0;
        var buffers = scratch ??= new Scratch();
        Buffers.Ensure(ref buffers.Context, n * C);
        Buffers.Ensure(ref buffers.A1, n * C);
        var context = buffers.Context.AsSpan(0, n * C);
        layer.SelfAttention.AttendRows(_qkv.AsSpan(b * T * 3 * C, T * 3 * C), q0, n, context, _valid[b], T);
        var output = _out.AsSpan(r0 * C, n * C);
        using (OpProfile.Time(OpProfile.Op.FusedTail))
        {
            Tail(layer, context, _x.AsSpan(r0 * C, n * C), buffers.A1.AsSpan(0, n * C), output, n);
        }
        _next?.SelfAttention.ProjectRows(output, _nextQkv.AsSpan(r0 * 3 * C, n * 3 * C), n);
    }

    private void Block(int block)
    {
        var (r0, n) = _blocks[block];
        int C = _layer.Output.Dense.Out;
        Tail(_layer, _context.AsSpan(r0 * C, n * C), _x.AsSpan(r0 * C, n * C), _a1.AsSpan(r0 * C, n * C), _out.AsSpan(r0 * C, n * C), n);
    }

    private void LayerBlock(int block)
    {
        var layer = _layer;
        int T = _seq, b0 = block * _sequencesPerBlock, sequences = Math.Min(_sequencesPerBlock, _batch - b0);
        int n = sequences * T, r0 = b0 * T, C = layer.Output.Dense.Out;
        var buffers = scratch ??= new Scratch();
        buffers.Qkv.Ensure(n * 3 * C);
        Buffers.Ensure(ref buffers.Context, n * C);
        Buffers.Ensure(ref buffers.A1, n * C);
        var x = _x.AsSpan(r0 * C, n * C);
        var context = buffers.Context.AsSpan(0, n * C);
        layer.SelfAttention.ForwardBlock(x, buffers.Qkv.AsSpan(0, n * 3 * C), context, _valid.AsSpan(b0, sequences), sequences, T);
        using (OpProfile.Time(OpProfile.Op.FusedTail))
        {
            Tail(layer, context, x, buffers.A1.AsSpan(0, n * C), _out.AsSpan(r0 * C, n * C), n);
        }
    }

    // context, x (n,C) → a1 (n,C), output (n,C) for one block of rows, on the calling thread.
    private static void Tail(BertLayer layer, ReadOnlySpan<float> context, ReadOnlySpan<float> x, Span<float> a1, Span<float> output, int n)
    {
        int C = layer.Output.Dense.Out, I = layer.Intermediate.Dense.Out;
        var buffers = scratch ??= new Scratch();
        buffers.Intermediate.Ensure(n * I);
        Buffers.Ensure(ref buffers.Sum, n * C);
        Buffers.Ensure(ref buffers.Stats, 2 * n);
        var inter = buffers.Intermediate.AsSpan(0, n * I);
        var s = buffers.Sum.AsSpan(0, n * C);
        var mean = buffers.Stats.AsSpan(0, n);
        var rstd = buffers.Stats.AsSpan(n, n);
        // a1 = LN(context Wo + bo + x)
        layer.AttentionOutput.Dense.Forward(context, C, s, n, packed: true);
        layer.AttentionOutput.Norm.AddForward(s, x, s, a1, mean, rstd, n);
        // h = LN(gelu(a1 Wi + bi) Wo2 + bo2 + a1)
        Linear up = layer.Intermediate.Dense, down = layer.Output.Dense;
        var mm = up.MatMul;
        if (up.Prepared(mm) is { } wi && down.Prepared(mm) is { } wo)
        {
            mm.FeedForward(n, a1, C, wi, up.Bias.Value.Data, wo, down.Bias.Value.Data, s, inter);
        }
        else
        {
            up.ForwardGelu(a1, C, inter, n);
            down.Forward(inter, I, s, n, packed: true);
        }
        layer.Output.Norm.AddForward(s, a1, s, output, mean, rstd, n);
    }

    // Per thread, so that a block's activations stay in the cache of the core that made them.
    private sealed class Scratch
    {
        public float[] Sum = [], Stats = [], Context = [], A1 = [];
        public readonly AlignedArray Intermediate = new(), Qkv = new();
    }
}
