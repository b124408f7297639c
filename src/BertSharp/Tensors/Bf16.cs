using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BertSharp.Tensors;

/// <summary>
/// fp32 → bfloat16 (the upper 16 bits of an fp32), rounded to nearest even as PyTorch and oneDNN
/// round; NaN stays NaN. The bf16 matmul provider converts its operands with this before each call.
/// </summary>
internal static unsafe class Bf16
{
    // Below this many elements the second core costs more than it saves.
    private const int ParallelElements = 1 << 16;

    [ThreadStatic] private static RowsJob? threadJob;

    public static ushort Round(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    public static float ToSingle(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);

    /// <summary>Converts a rows × cols block of src (row stride ld) to a dense rows × cols bf16 matrix.</summary>
    public static void Convert(ReadOnlySpan<float> src, int rows, int cols, int ld, ushort* dst, int maxThreads)
    {
        if (rows == 0 || cols == 0) return;
        Gemm.CheckMatrix("src", src.Length, rows, cols, ld);
        fixed (float* s = src)
        {
            if ((long)rows * cols < ParallelElements || maxThreads <= 1 || rows < 2)
            {
                ConvertRows(s, 0, rows, cols, ld, dst);
                return;
            }
            var job = threadJob ??= new RowsJob();
            int tasks = Math.Min(rows, 4 * maxThreads);
            job.Set(s, dst, rows, cols, ld, tasks);
            WorkerPool.For(tasks, maxThreads, job.Body);
        }
    }

    // Rows [from, to) of src (row stride ld) to dense rows of dst, on the calling thread.
    internal static void ConvertRows(float* src, int from, int to, int cols, int ld, ushort* dst)
    {
        for (int r = from; r < to; r++) ConvertRow(src + (long)r * ld, cols, dst + (long)r * cols);
    }

    /// <summary>
    /// A dense (rows × parts·heads·headDim) block of fused rows (query/key/value, or one part) to
    /// head-major bf16: head h of part p becomes the dense (rows × headDim) matrix at
    /// dst + (p·heads + h)·rows·headDim, the operand layout of per-head batched products; only heads
    /// [h0, h1) of each part are written (a task's share of a sequence). Rows from validRows on of
    /// every part after the first (keys and values of padding) are written as zeros, so that whatever
    /// they held (even NaN) cannot reach a product whose probabilities there are 0.
    /// </summary>
    internal static void SplitHeads(float* src, int rows, int validRows, int parts, int heads, int headDim, int h0, int h1, ushort* dst)
    {
        int width = parts * heads * headDim;
        long plane = (long)rows * headDim;
        for (int r = 0; r < rows; r++)
        {
            float* row = src + (long)r * width;
            for (int p = 0; p < parts; p++)
                for (int h = h0; h < h1; h++)
                {
                    int j = p * heads + h;
                    if (p == 0 || r < validRows) ConvertRow(row + j * headDim, headDim, dst + j * plane + (long)r * headDim);
                    else new Span<ushort>(dst + j * plane + (long)r * headDim, headDim).Clear();
                }
        }
    }

    // n values of src to dst.
    internal static void ConvertRow(float* src, int n, ushort* dst)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
            for (; j + 16 <= n; j += 16) Round(Vector512.Load(src + j)).Store(dst + j);
        for (; j < n; j++) dst[j] = Round(src[j]);
    }

    /// <summary><see cref="Round(float)"/> on 16 lanes (AVX-512 only).</summary>
    internal static Vector256<ushort> Round(Vector512<float> value)
    {
        var v = value.AsUInt32();
        var rounded = Vector512.ShiftRightLogical(v + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(v, 16) & Vector512<uint>.One), 16);
        var nan = Vector512.GreaterThan(v & Vector512.Create(0x7FFF_FFFFu), Vector512.Create(0x7F80_0000u));
        var result = Vector512.ConditionalSelect(nan, Vector512.ShiftRightLogical(v, 16) | Vector512.Create(0x40u), rounded);
        return Avx512F.ConvertToVector256UInt16(result);
    }

    private sealed class RowsJob
    {
        private float* _src;
        private ushort* _dst;
        private int _rows, _cols, _ld, _tasks;

        public RowsJob() => Body = Run;

        public Action<int> Body { get; }

        public void Set(float* src, ushort* dst, int rows, int cols, int ld, int tasks)
        {
            _src = src;
            _dst = dst;
            _rows = rows;
            _cols = cols;
            _ld = ld;
            _tasks = tasks;
        }

        private void Run(int task)
        {
            int from = (int)((long)_rows * task / _tasks), to = (int)((long)_rows * (task + 1) / _tasks);
            ConvertRows(_src, from, to, _cols, _ld, _dst);
        }
    }
}
