using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary>
/// <c>bertsharp bench --grid</c>: inference at every batch × tokens cell against ONNX Runtime on the
/// same embedded model.onnx, same inputs and threads, in the same process, so each cell's ratio holds
/// however loaded the machine is; fp32, and bf16 where oneDNN runs it natively.
/// </summary>
internal static class BenchGrid
{
    public static int[] Sizes(string list, string option)
    {
        var sizes = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => int.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n
                : throw new ArgumentException($"{option} '{list}': expected positive integers separated by commas"))
            .ToArray();
        return sizes.Length > 0 ? sizes : throw new ArgumentException($"{option} is empty");
    }

    /// <summary>
    /// Measures every cell; onCell (when given) sees each cell as soon as it is measured. oneThread: also
    /// time each managed engine on one thread in the same rounds, so that the thread count's gain (or,
    /// on a contended CPU, loss) is a same-run ratio too. noise: also time the fp32 engine a second time, as an
    /// engine of its own in the same rounds; the second's rate over the first is what two identical engines differ by
    /// in this run, the spread against which the cell's other ratios are read.
    /// </summary>
    public static JsonObject Run(string model, int[] batches, int[] tokens, int threads, int iterations, int contend, int pauseMs,
        bool oneThread = false, Action<JsonObject>? onCell = null, bool noise = false)
    {
        if (threads <= 0 || iterations <= 0) throw new ArgumentException($"--threads ({threads}) and --iterations ({iterations}) must be positive");
        if (pauseMs < 0) throw new ArgumentException($"--grid-pause-ms ({pauseMs}) must not be negative");
        if (!BuiltInModels.IsBuiltIn(model))
            throw new ArgumentException($"--model '{model}': the benchmark compares against ONNX Runtime on the embedded model.onnx, so it needs a built-in model ({string.Join(", ", BuiltInModels.Names)})");
        var pretrained = PretrainedModel.Load(model);
        foreach (int t in tokens)
            if (t < 2 || t > pretrained.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"--grid-tokens {t} must be in [2, {pretrained.Config.MaxPositionEmbeddings}]");
        var ids = BenchCommand.ProseIds(pretrained);
        var fp32 = new BertModel(pretrained.Config, pretrained.Weights) { Provider = ComputeProvider.Managed };
        // bf16 only where it is native: emulated bf16 would measure the fallback, not the provider.
        var bf16 = ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16)
            ? new BertModel(pretrained.Config, pretrained.Weights) { Provider = ComputeProvider.OneDnnBf16 }
            : null;
        using var ort = new OnnxRuntimeEncoder(model, threads);
        var cells = new JsonArray();
        foreach (int b in batches)
        {
            foreach (int t in tokens)
            {
                var input = BenchCommand.Input(ids, b, t, offset: 0);
                var engines = new List<Action> { OnThreads(threads, () => fp32.Forward(input)), () => ort.Run(input) };
                if (bf16 is not null) engines.Add(OnThreads(threads, () => bf16.Forward(input)));
                if (oneThread)
                {
                    engines.Add(OnThreads(1, () => fp32.Forward(input)));
                    if (bf16 is not null) engines.Add(OnThreads(1, () => bf16.Forward(input)));
                }
                if (noise) engines.Add(OnThreads(threads, () => fp32.Forward(input)));
                var (rates, passes) = Measure(engines, b, iterations, pauseMs, mean: contend > 0);
                var cell = new JsonObject
                {
                    ["batch"] = b,
                    ["tokens"] = t,
                    ["passes"] = passes,
                    ["fp32_samples_per_s"] = Math.Round(rates[0], 2),
                    ["onnxruntime_samples_per_s"] = Math.Round(rates[1], 2),
                    ["fp32_ratio"] = Math.Round(rates[0] / rates[1], 3),
                };
                if (bf16 is not null)
                {
                    cell["bf16_samples_per_s"] = Math.Round(rates[2], 2);
                    cell["bf16_ratio"] = Math.Round(rates[2] / rates[1], 3);
                }
                if (noise)
                {
                    cell["fp32_repeat_samples_per_s"] = Math.Round(rates[^1], 2);
                    cell["fp32_repeat_ratio"] = Math.Round(rates[^1] / rates[0], 3);
                }
                if (oneThread)
                {
                    int at = engines.Count - (noise ? 1 : 0) - (bf16 is null ? 1 : 2);
                    cell["fp32_one_thread_samples_per_s"] = Math.Round(rates[at], 2);
                    cell["fp32_thread_ratio"] = Math.Round(rates[0] / rates[at], 3);
                    if (bf16 is not null)
                    {
                        cell["bf16_one_thread_samples_per_s"] = Math.Round(rates[at + 1], 2);
                        cell["bf16_thread_ratio"] = Math.Round(rates[2] / rates[at + 1], 3);
                    }
                }
                cells.Add(cell);
                onCell?.Invoke(cell);
            }
        }
        return new JsonObject
        {
            ["model"] = model,
            ["threads"] = threads,
            ["one_thread"] = oneThread,
            ["noise"] = noise,
            ["contend"] = contend,
            ["iterations"] = iterations,
            ["statistic"] = Statistic(contend),
            ["pause_ms"] = pauseMs,
            ["bf16"] = bf16 is null ? ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16) : ComputeProviders.Describe(ComputeProvider.OneDnnBf16),
            ["cpu"] = BenchCommand.CpuName(),
            ["load_average"] = BenchCommand.LoadAverage(),
            ["cells"] = cells,
        };
    }

    // The managed engines share Gemm.MaxThreads, so each sets it before its pass.
    private static Action OnThreads(int threads, Action forward) => () =>
    {
        Gemm.MaxThreads = threads;
        forward();
    };

    // Samples/s per engine, the median of its timed passes: `iterations` at least, spread over three rounds. Each
    // engine runs in blocks of its own passes, as it would serve alone: untimed passes when it takes over (Settle),
    // then timed ones, each after `pauseMs` of idle as a request arriving after a gap. The blocks take turns over the
    // rounds so a burst of outside load hits every engine. A block of a short cell runs more passes, fillSeconds of
    // them (at most maxFillPasses): on a VM with hypervisor steal, a median of five 3-ms passes is decided by one or
    // two slow ones. mean (beside busy threads): the rate from the mean pass, not the median (see Statistic), each pause
    // drawn from half to one and a half `pauseMs`, and a short cell's passes in ManyRounds shorter blocks (decided by the
    // first engine's settled pass; see ManyRounds). Returns the rates and the fewest passes any engine had.
    internal static (double[] Rates, int Passes) Measure(List<Action> engines, int batch, int iterations, int pauseMs, bool mean = false)
    {
        double pause = pauseMs / 1000.0;
        int rounds = mean && Settle(engines[0]) + pause < MeanFillSeconds / (MaxFillPasses(mean) * Rounds / ManyRounds) ? ManyRounds : Rounds;
        int maxFillPasses = MaxFillPasses(mean) * Rounds / rounds;
        double fillSeconds = (mean ? MeanFillSeconds : 0.1) * Rounds / rounds;
        var times = engines.Select(_ => new List<double>(iterations)).ToArray();
        var jitter = new Random(1);
        // ManyRounds splits each of the three rounds into turns: as many rounds run as `iterations` allow.
        for (int r = 0, turns = rounds / Rounds; r < rounds; r++)
        {
            int passes = (iterations - r / turns + Rounds - 1) / Rounds;
            if (passes == 0) break;
            passes = (passes + turns - 1) / turns;
            for (int e = 0; e < engines.Count; e++)
            {
                double warm = Settle(engines[e]);
                // The mean's longer fill counts the pauses too, so that it stays 0.5 s whatever the pause.
                double perPass = mean ? warm + pause : warm;
                int n = Math.Max(passes, Math.Min(maxFillPasses, (int)Math.Ceiling(fillSeconds / Math.Max(perPass, 1e-6))));
                for (int i = 0; i < n; i++)
                {
                    if (pauseMs > 0) Thread.Sleep(mean ? jitter.Next(pauseMs / 2, pauseMs * 3 / 2 + 1) : pauseMs);
                    times[e].Add(BenchCommand.Seconds(engines[e]));
                }
            }
        }
        return ([.. times.Select(t => batch / (mean ? t.Average() : BenchCommand.Median([.. t])))], times.Min(t => t.Count));
    }

    // An engine's untimed passes as it takes over: two and 0.1 s at least (ONNX Runtime's worker spins for some 20 ms
    // after its last run, a busy core that our pool rightly counts as contention and stays serial for 50 ms or more
    // after), and more, up to 2 s, while a pass saw the JIT compile a method (on any thread: tier-1 code is compiled in
    // the background; in a process's first cell one engine's first block compiled 300–400 methods in 60–100 ms, tier-1
    // code of the engines before it, on a core its timed passes wanted). Returns the last pass's seconds.
    private static double Settle(Action engine)
    {
        var settle = Stopwatch.StartNew();
        double seconds;
        bool jitted;
        int untimed = 0;
        do
        {
            long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
            seconds = BenchCommand.Seconds(engine);
            jitted = System.Runtime.JitInfo.GetCompiledMethodCount() != methods;
        }
        while (++untimed < 2 || settle.Elapsed.TotalSeconds < 0.1 || (jitted && settle.Elapsed.TotalSeconds < 2));
        return seconds;
    }

    private const int Rounds = 3;

    // A mean over passes of two durations needs more of them: 1 × 16-token cells of 45 passes per engine gave
    // 2 / 1-thread ratios of 0.77–1.22, of 225 passes 0.85–0.94, with one binary.
    private static int MaxFillPasses(bool mean) => mean ? 75 : 15;

    private const double MeanFillSeconds = 0.5;

    // Beside busy threads the passes of one block lose their CPU together or not at all (1 × 16 tokens: a block's mean
    // pass 3.6 or 6 ms, rarely between): a fixed pause keeps a pass in step with the scheduler's tick for a whole block.
    // The fp32 engine timed twice (--grid-noise) differed by 0.81–1.21× in cells of three blocks of up to 75 passes, and
    // the first engine's first block, timed while the pool had not yet seen the contention (155–280 loops on two threads),
    // weighed a third; the 2 / 1-thread ratio read 0.84–0.94 in runs where a second two-thread engine read 1.03–1.14 over
    // the first. Random pauses and fifteen blocks of up to 15 passes: 0.99–1.08 (four runs; 2 / 1 thread 0.99–1.05).
    private const int ManyRounds = 15;

    // Beside busy threads a pass loses its CPU for whole scheduler ticks (4 ms at HZ = 250) or not at all: 1 × 16-token
    // passes took 4 or 8 ms, about half each, alike on one thread and two, and the median of such a mix jumps between
    // the two (one same-run 2 / 1-thread ratio read 0.5, the next 1.5). The mean is what a served stream of such
    // requests gets; a quiet machine keeps the median, which a rare hypervisor stall does not move.
    private static string Statistic(int contend) => contend > 0 ? "mean" : "median";

    // A table row per cell as it is measured (a 512-token cell takes minutes on a busy machine),
    // after a header naming the run.
    public static void PrintHeader(string model, int threads, int contend, int iterations, int pauseMs, bool bf16, bool oneThread, bool noise = false)
    {
        Console.WriteLine($"model {model}, {threads} threads, {contend} competing busy threads, {Statistic(contend)} of {iterations} passes or more (short cells up to {Rounds * MaxFillPasses(contend > 0)}{(contend > 0 ? $", in {ManyRounds} turns" : "")}), " +
            (contend > 0 ? $"{pauseMs / 2}–{pauseMs * 3 / 2} ms pause before each pass, " : $"{pauseMs} ms pause before each pass, ") +
            $"on {BenchCommand.CpuName()} (load {BenchCommand.LoadAverage()}); bf16: " +
            (bf16 ? ComputeProviders.Describe(ComputeProvider.OneDnnBf16) : ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16)));
        var columns = new List<string> { "batch × tokens", "fp32 samples/s", "ONNX Runtime samples/s", "fp32 ratio" };
        if (bf16) columns.AddRange(["bf16 samples/s", "bf16 ratio"]);
        if (oneThread)
        {
            columns.AddRange(["fp32 on 1 thread", $"fp32 {threads} / 1 thread"]);
            if (bf16) columns.AddRange(["bf16 on 1 thread", $"bf16 {threads} / 1 thread"]);
        }
        if (noise) columns.Add("fp32 again / fp32");
        Console.WriteLine("| " + string.Join(" | ", columns) + " |");
        Console.WriteLine("| --- |" + string.Concat(Enumerable.Repeat(" ---: |", columns.Count - 1)));
    }

    public static void PrintRow(JsonObject c)
    {
        var line = $"| {c["batch"]} × {c["tokens"]} | {c["fp32_samples_per_s"]} | {c["onnxruntime_samples_per_s"]} | {c["fp32_ratio"]} |";
        if (c["bf16_samples_per_s"] is not null) line += $" {c["bf16_samples_per_s"]} | {c["bf16_ratio"]} |";
        if (c["fp32_one_thread_samples_per_s"] is not null) line += $" {c["fp32_one_thread_samples_per_s"]} | {c["fp32_thread_ratio"]} |";
        if (c["bf16_one_thread_samples_per_s"] is not null) line += $" {c["bf16_one_thread_samples_per_s"]} | {c["bf16_thread_ratio"]} |";
        if (c["fp32_repeat_ratio"] is not null) line += $" {c["fp32_repeat_ratio"]} |";
        Console.WriteLine(line);
    }
}

/// <summary>
/// `count` threads spinning on arithmetic until disposed: another process's work on a shared CPU,
/// started by the bench itself so that a contended run can be repeated.
/// </summary>
internal sealed class BusyThreads : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stop;

    public BusyThreads(int count)
    {
        _threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            _threads[i] = new Thread(Spin) { IsBackground = true, Name = "bench competing load " + i };
            _threads[i].Start();
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var t in _threads) t.Join();
    }

    private void Spin()
    {
        double x = 1;
        while (!_stop)
            for (int i = 0; i < 100_000; i++) x = x * 1.0000001 + 1e-9;
        GC.KeepAlive(x);
    }
}
