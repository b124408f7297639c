using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Inference's fused layer tail: everything after attention is row-local, so each task takes a block
/// of rows through attention-output projection, residual LayerNorm, intermediate GEMM, GELU, output
/// projection and residual LayerNorm while the block's (rows × intermediate) activations stay in
/// the core's L2 cache; the threads split rows, not GEMMs, so there is one fork/join per layer
/// instead of one per operation.
/// </summary>
/// <remarks>Needs packed weights (a block's GEMM re-packing its weight each time would cost more than it saves).</remarks>
internal sealed class LayerTail
{
    // Managed: 8 microkernel rows of 12, about 0.6 MB of intermediate activations per block at
    // MiniLM's width. oneDNN's AMX kernels want taller blocks (1.5 MB, still within a core's L2).
    private const int BlockRows = 96, NativeBlockRows = 256;

    [ThreadStatic] private static Scratch? scratch;

    public readonly Action<int> Body;
    private BertLayer _layer = null!;
    private float[] _context = [], _x = [], _a1 = [], _out = [];
    private int _rows, _blockRows;

    public LayerTail() => Body = Block;

    /// <summary>Whether blocking pays: enough rows to give every thread several blocks.</summary>
    public static bool Worthwhile(int rows, MatMul matMul) => rows >= 4 * RowsPerBlock(matMul) * Gemm.MaxThreads;

    private static int RowsPerBlock(MatMul matMul) => matMul.Provider == ComputeProvider.Managed ? BlockRows : NativeBlockRows;

    // context, x (N,C) → a1 (N,C), output (N,C).
    public void Run(BertLayer layer, float[] context, float[] x, float[] a1, float[] output, int rows)
    {
        (_layer, _context, _x, _a1, _out, _rows) = (layer, context, x, a1, output, rows);
        _blockRows = RowsPerBlock(layer.Intermediate.Dense.MatMul);
        try
        {
            WorkerPool.For((rows + _blockRows - 1) / _blockRows, Gemm.MaxThreads, Body);
        }
        finally
        {
            (_context, _x, _a1, _out) = ([], [], [], []);
        }
    }

    private void Block(int block)
    {
        int rowsPerBlock = _blockRows, r0 = block * rowsPerBlock, n = Math.Min(rowsPerBlock, _rows - r0);
        var layer = _layer;
        int C = layer.Output.Dense.Out, I = layer.Intermediate.Dense.Out;
        var buffers = scratch ??= new Scratch();
        buffers.Intermediate.Ensure(rowsPerBlock * I);
        Buffers.Ensure(ref buffers.Sum, rowsPerBlock * C);
        Buffers.Ensure(ref buffers.Stats, 2 * rowsPerBlock);
        var inter = buffers.Intermediate.AsSpan(0, n * I);
        var s = buffers.Sum.AsSpan(0, n * C);
        var mean = buffers.Stats.AsSpan(0, n);
        var rstd = buffers.Stats.AsSpan(rowsPerBlock, n);
        var a1 = _a1.AsSpan(r0 * C, n * C);
        // a1 = LN(context Wo + bo + x)
        layer.AttentionOutput.Dense.Forward(_context.AsSpan(r0 * C, n * C), C, s, n, packed: true);
        layer.AttentionOutput.Norm.AddForward(s, _x.AsSpan(r0 * C, n * C), s, a1, mean, rstd, n);
        // g = gelu(a1 Wi + bi)
        layer.Intermediate.Dense.Forward(a1, C, inter, n, packed: true);
        Kernels.Gelu(inter, inter);
        // h = LN(g Wo2 + bo2 + a1)
        layer.Output.Dense.Forward(inter, I, s, n, packed: true);
        layer.Output.Norm.AddForward(s, a1, s, _out.AsSpan(r0 * C, n * C), mean, rstd, n);
    }

    // Per thread, so that a block's activations stay in the cache of the core that made them.
    private sealed class Scratch
    {
        public float[] Sum = [], Stats = [];
        public readonly AlignedArray Intermediate = new();
    }
}
