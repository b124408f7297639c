using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using BertSharp.Tensors;

namespace BertSharp.Bench;

/// <summary>
/// GFLOP/s of <see cref="Gemm"/> at BERT's shapes (batch 32 × seq 128 = 4096 tokens, MiniLM's
/// 384/1536 widths) on 1 and 2 threads, as a share of the fp32 peak, with two peers in the same
/// process: the contract's naive triple loop and a Vector512 dot-product GEMM without blocking.
/// </summary>
internal static class GemmBench
{
    private sealed record Shape(string Name, bool TransA, bool TransB, int M, int N, int K, bool Packed = false, int Batch = 1, bool SerialOnly = false, int Copies = 1);

    public static int Run(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1.0;
        string filter = args.Length > 1 ? args[1] : "";
        double mhz = CpuMhz();
        Console.WriteLine($"kernel: {Gemm.Path}, Vector512 accelerated: {Vector512.IsHardwareAccelerated}, cores: {Environment.ProcessorCount}");
        Console.WriteLine($"clock: {mhz:F0} MHz (/proc/cpuinfo \"cpu MHz\"); peak per core = 2 FMA units × 16 lanes × 2 flops × clock = {PeakPerCore(mhz):F1} GFLOP/s");
        var shapes = new[]
        {
            new Shape("fwd QKV/out  x·Wᵀ [4096x384]·[384x384]ᵀ", false, true, 4096, 384, 384),
            new Shape("fwd QKV/out  packed W", false, true, 4096, 384, 384, Packed: true),
            new Shape("fwd FFN up   x·Wᵀ [4096x384]·[1536x384]ᵀ", false, true, 4096, 1536, 384),
            new Shape("fwd FFN up   packed W", false, true, 4096, 1536, 384, Packed: true),
            new Shape("fwd FFN down x·Wᵀ [4096x1536]·[384x1536]ᵀ", false, true, 4096, 384, 1536),
            new Shape("fwd FFN down packed W", false, true, 4096, 384, 1536, Packed: true),
            // One 16-token input (batch 1): too small to split, so on one thread only.
            new Shape("fwd FFN up   packed W, 16 tokens", false, true, 16, 1536, 384, Packed: true, SerialOnly: true),
            new Shape("fwd FFN down packed W, 16 tokens", false, true, 16, 384, 1536, Packed: true, SerialOnly: true),
            new Shape("fwd FFN up   packed W, 64 tokens", false, true, 64, 1536, 384, Packed: true, SerialOnly: true),
            // Batch 1's fused QKV product ([tokens x 384]·[1152 x 384]ᵀ), weights cold, at token counts that end on
            // each narrow kernel: 8 and 20 (the 8-row one), 16 and 64 (the 4-row one), 24 and 32 (12-row, then 8-row).
            new Shape("fwd QKV      packed W, 8 tokens, cold", false, true, 8, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd QKV      packed W, 16 tokens, cold", false, true, 16, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd QKV      packed W, 20 tokens, cold", false, true, 20, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd QKV      packed W, 24 tokens, cold", false, true, 24, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd QKV      packed W, 32 tokens, cold", false, true, 32, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd QKV      packed W, 64 tokens, cold", false, true, 64, 1152, 384, Packed: true, SerialOnly: true, Copies: 24),
            // The same products with the weight read from memory, as in a whole pass (42 MB of weights
            // against a 32 MiB L3): calls cycle through 24 packed copies (56 MB, 38 MB).
            new Shape("fwd FFN up   packed W, 16 tokens, cold", false, true, 16, 1536, 384, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("fwd FFN down packed W, 16 tokens, cold", false, true, 16, 384, 1536, Packed: true, SerialOnly: true, Copies: 24),
            new Shape("bwd dX = dY·W [4096x1536]·[1536x384]", false, false, 4096, 384, 1536),
            new Shape("bwd dW = dYᵀ·X [1536x4096]·[4096x384]", true, false, 1536, 384, 4096),
            // One head's GEMM is below the parallel threshold by design (callers parallelise over heads).
            new Shape("attn scores one head [128x32]·[128x32]ᵀ", false, true, 128, 128, 32, SerialOnly: true),
            new Shape("attn scores batched 32x12 heads", false, true, 128, 128, 32, Batch: 384),
            new Shape("attn context one head [128x128]·[128x32]", false, false, 128, 32, 128, SerialOnly: true),
            new Shape("attn context batched 32x12 heads", false, false, 128, 32, 128, Batch: 384),
        };
        var (measured, measuredCpu) = MeasureFmaPeak(seconds);
        Console.WriteLine($"measured peak of one core (independent register-only FMAs): {measured:F1} GFLOP/s best run = {measured / PeakPerCore(mhz):P0} of the nominal-clock figure (turbo); {measuredCpu:F1} by CPU time");
        Console.WriteLine();
        Console.WriteLine($"{"",54} {"-- wall clock (best run) --",-27} {"-- by CPU time --",-17}");
        Console.WriteLine($"{"shape",-46} {"threads",7} {"GFLOP/s",8} {"% peak",7} {"% meas.",7}   {"GFLOP/s",8} {"% meas.",7}");
        foreach (var s in shapes.Where(s => s.Name.Contains(filter, StringComparison.Ordinal)))
            foreach (int threads in s.SerialOnly ? new[] { 1 } : new[] { 1, 2 })
            {
                Gemm.MaxThreads = threads;
                var (gflops, cpu) = Measure(s, seconds);
                Console.WriteLine($"{s.Name,-46} {threads,7} {gflops,8:F1} {100 * gflops / (threads * PeakPerCore(mhz)),6:F1}% {100 * gflops / (threads * measured),6:F1}%   {cpu,8:F1} {100 * cpu / (threads * measuredCpu),6:F1}%");
            }
        Gemm.MaxThreads = Environment.ProcessorCount;

        if (ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16))
        {
            var bf16 = MatMul.For(ComputeProvider.OneDnnBf16);
            Console.WriteLine();
            Console.WriteLine($"bf16 provider ({bf16.Name}), 2 threads, fp32 in and out (rounding the operands included), against the managed fp32 GEMM;");
            Console.WriteLine("C in a .NET array (wherever the GC put it) and in 64-byte aligned native memory (AlignedArray, as the model's wide outputs):");
            Console.WriteLine($"{"shape",-46} {"GFLOP/s",8} {"x fp32",7} {"aligned C",10} {"x fp32",7}");
            foreach (var s in shapes.Where(s => s.Batch == 1 && !s.SerialOnly && s.Name.Contains(filter, StringComparison.Ordinal)))
            {
                double managed = Measure(s, seconds).Wall;
                double native = Measure(s, seconds, bf16).Wall;
                double aligned = Measure(s, seconds, bf16, alignedC: true).Wall;
                Console.WriteLine($"{s.Name,-46} {native,8:F1} {native / managed,6:F2}x {aligned,10:F1} {aligned / managed,6:F2}x");
            }
        }

        Console.WriteLine();
        Console.WriteLine("peers, 1 thread, fwd QKV/out shape [4096x384]·[384x384]ᵀ:");
        var qkv = shapes[0];
        Gemm.MaxThreads = 1;
        double ours = Measure(qkv, seconds).Wall;
        Gemm.MaxThreads = Environment.ProcessorCount;
        double dot = MeasurePeer(qkv, seconds, DotProductGemm);
        double naive = MeasurePeer(qkv with { M = 256 }, seconds, NaiveGemm);
        Console.WriteLine($"  Gemm.Multiply            {ours,8:F1} GFLOP/s");
        Console.WriteLine($"  Vector512 dot products   {dot,8:F1} GFLOP/s  (Gemm is {ours / dot:F1}x)");
        Console.WriteLine($"  naive triple loop        {naive,8:F2} GFLOP/s  (Gemm is {ours / naive:F0}x; m=256 rows to keep it short)");
        return 0;
    }

    // A loop of independent FMAs: the core's real FMA throughput at whatever clock it turbos to.
    private static (double Wall, double Cpu) MeasureFmaPeak(double seconds)
    {
        const int iterations = 1_000_000;
        float sink = 0;
        var rate = Time(16.0 * 16 * 2 * iterations, seconds, () => sink += FmaLoop(iterations));
        GC.KeepAlive(sink);
        return rate;
    }

    // 16 accumulators cover two FMA ports × 4-cycle latency twice over; no call inside the loop,
    // so the JIT keeps them all in zmm registers.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(int iterations)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(0.9999999f);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> a8 = default, a9 = default, a10 = default, a11 = default, a12 = default, a13 = default, a14 = default, a15 = default;
        for (int i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(x, y, a0); a1 = Vector512.FusedMultiplyAdd(x, y, a1);
            a2 = Vector512.FusedMultiplyAdd(x, y, a2); a3 = Vector512.FusedMultiplyAdd(x, y, a3);
            a4 = Vector512.FusedMultiplyAdd(x, y, a4); a5 = Vector512.FusedMultiplyAdd(x, y, a5);
            a6 = Vector512.FusedMultiplyAdd(x, y, a6); a7 = Vector512.FusedMultiplyAdd(x, y, a7);
            a8 = Vector512.FusedMultiplyAdd(x, y, a8); a9 = Vector512.FusedMultiplyAdd(x, y, a9);
            a10 = Vector512.FusedMultiplyAdd(x, y, a10); a11 = Vector512.FusedMultiplyAdd(x, y, a11);
            a12 = Vector512.FusedMultiplyAdd(x, y, a12); a13 = Vector512.FusedMultiplyAdd(x, y, a13);
            a14 = Vector512.FusedMultiplyAdd(x, y, a14); a15 = Vector512.FusedMultiplyAdd(x, y, a15);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    private static double PeakPerCore(double mhz) => 2 * 16 * 2 * mhz / 1000;

    private static double CpuMhz()
    {
        foreach (var line in File.ReadLines("/proc/cpuinfo"))
            if (line.StartsWith("cpu MHz", StringComparison.Ordinal))
                return double.Parse(line[(line.IndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        throw new InvalidDataException("/proc/cpuinfo has no \"cpu MHz\" line");
    }

    private static (double Wall, double Cpu) Measure(Shape s, double seconds, MatMul? provider = null, bool alignedC = false)
    {
        var rng = new Random(1);
        var a = Fill(rng, s.Batch * s.M * s.K);
        var b = Fill(rng, s.Batch * s.K * s.N);
        var c = new float[s.Batch * s.M * s.N];
        int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        if (provider is not null)
        {
            // A packed shape is W prepared once (inference); transB shapes store W [n, k].
            var prepared = s.Packed && s.TransB ? provider.Prepare(b, s.N, s.K) : null;
            var native = new AlignedArray();
            native.Ensure(c.Length);
            return Time(2.0 * s.M * s.N * s.K, seconds, () =>
            {
                var output = alignedC ? native.Span : c;
                if (prepared is null) provider.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1, a, lda, b, ldb, default, 0, output, s.N);
                else provider.Multiply(s.M, a, lda, prepared, default, output, s.N);
            }, Gemm.MaxThreads);
        }
        var copies = s.Packed ? Enumerable.Range(0, s.Copies).Select(_ => PackedMatrix.Pack(s.TransB, s.K, s.N, b, ldb)).ToArray() : null;
        int call = 0;
        return Time(2.0 * s.Batch * s.M * s.N * s.K, seconds, () =>
        {
            if (s.Batch > 1)
                Gemm.MultiplyBatched(s.TransA, s.TransB, s.M, s.N, s.K, 1, a, lda, new BatchStrides((long)s.M * s.K, 0),
                    b, ldb, new BatchStrides((long)s.K * s.N, 0), 0, c, s.N, new BatchStrides((long)s.M * s.N, 0), s.Batch, 1);
            else if (copies is null) Gemm.Multiply(s.TransA, s.TransB, s.M, s.N, s.K, 1, a, lda, b, ldb, 0, c, s.N);
            else Gemm.Multiply(s.TransA, s.M, s.N, s.K, 1, a, lda, copies[call++ % copies.Length], 0, c, s.N);
        }, Gemm.MaxThreads);
    }

    private static double MeasurePeer(Shape s, double seconds, Action<int, int, int, float[], float[], float[]> gemm)
    {
        var rng = new Random(1);
        var a = Fill(rng, s.M * s.K);
        var b = Fill(rng, s.K * s.N);
        var c = new float[s.M * s.N];
        return Time(2.0 * s.M * s.N * s.K, seconds, () => gemm(s.M, s.N, s.K, a, b, c)).Wall;
    }

    // Best of repeated wall-clock timings (on a shared machine the fastest run is the least
    // disturbed one), and the rate by process CPU time over the whole window divided by the
    // threads used, which time slices lost to other processes do not count against.
    private static (double Wall, double Cpu) Time(double flops, double seconds, Action run, int threads = 1)
    {
        run();
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        double best = double.MaxValue, total = 0;
        int reps = 0;
        while (total < seconds || reps < 3)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            double dt = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Min(best, dt);
            total += dt;
            reps++;
        }
        process.Refresh();
        double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds / threads / reps;
        return (flops / best / 1e9, flops / cpu / 1e9);
    }

    // C = A·Bᵀ, A [m,k], B [n,k]: one SIMD dot product per output, no packing or blocking.
    private static void DotProductGemm(int m, int n, int k, float[] a, float[] b, float[] c)
    {
        for (int i = 0; i < m; i++)
        {
            var ai = a.AsSpan(i * k, k);
            for (int j = 0; j < n; j++)
            {
                var bj = b.AsSpan(j * k, k);
                var acc = Vector512<float>.Zero;
                int p = 0;
                for (; p <= k - 16; p += 16)
                    acc = Vector512.FusedMultiplyAdd(Vector512.Create(ai.Slice(p, 16)), Vector512.Create(bj.Slice(p, 16)), acc);
                float sum = Vector512.Sum(acc);
                for (; p < k; p++) sum += ai[p] * bj[p];
                c[i * n + j] = sum;
            }
        }
    }

    // The contract's reference loop (transB = true).
    private static void NaiveGemm(int m, int n, int k, float[] a, float[] b, float[] c)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
                c[i * n + j] = sum;
            }
    }

    private static float[] Fill(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
