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

    private static void ConvertRows(float* src, int from, int to, int cols, int ld, ushort* dst)
    {
        for (int r = from; r < to; r++)
        {
            float* s = src + (long)r * ld;
            ushort* d = dst + (long)r * cols;
            int j = 0;
            if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
            {
                var half = Vector512.Create(0x7FFFu);
                var one = Vector512.Create(1u);
                var absMask = Vector512.Create(0x7FFF_FFFFu);
                var inf = Vector512.Create(0x7F80_0000u);
                var quiet = Vector512.Create(0x40u);
                for (; j + 16 <= cols; j += 16)
                {
                    var v = Vector512.Load((uint*)(s + j));
                    var rounded = Vector512.ShiftRightLogical(v + half + (Vector512.ShiftRightLogical(v, 16) & one), 16);
                    var nan = Vector512.GreaterThan(v & absMask, inf);
                    var result = Vector512.ConditionalSelect(nan, Vector512.ShiftRightLogical(v, 16) | quiet, rounded);
                    Avx512F.ConvertToVector256UInt16(result).Store(d + j);
                }
            }
            for (; j < cols; j++) d[j] = Round(s[j]);
        }
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
