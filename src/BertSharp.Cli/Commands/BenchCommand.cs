using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Text;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary>
/// <c>bertsharp bench</c>: the managed encoder's inference against ONNX Runtime on the same embedded
/// model.onnx, same inputs, same threads, in the same process (so machine load hits both alike), plus
/// the training step's throughput.
/// </summary>
internal static class BenchCommand
{
    // Ordinary English prose (written for this benchmark), tokenized and repeated to fill every
    // sequence with real tokens: no padding, so both engines do the full seq × seq attention.
    private static readonly string[] Prose =
    [
        "the film opens with a long shot of a quiet harbour, and for a while nothing happens at all.",
        "critics were divided: some called it a patient study of grief, others a slow and empty exercise.",
        "the lead actor gives a careful, understated performance that grows on you as the story unfolds.",
        "by the final act the plot has lost its way, and the ending feels rushed and unearned.",
        "still, the music is lovely and the photography makes the small town look like a painting.",
        "i would recommend it to anyone who enjoys character studies more than twists.",
    ];

    public static Command Create()
    {
        var batch = new Option<int>("--batch") { Description = "Inference batch size", DefaultValueFactory = _ => 32 };
        var seq = new Option<int>("--seq") { Description = "Sequence length (every token real, no padding)", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "Threads for both engines (default: all cores)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var model = new Option<string>("--model") { Description = "Built-in model (minilm-l6, arctic-xs)", DefaultValueFactory = _ => BuiltInModels.Default };
        var trainBatch = new Option<int>("--train-batch") { Description = "Training batch size (0 skips training)", DefaultValueFactory = _ => 16 };
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations per measurement, at least (the median is reported, the mean in a grid with --contend; short inference passes run more, 0.1 s of them per engine and round, up to 15, over 3 rounds, or over 15 rounds with --contend)", DefaultValueFactory = _ => 5 };
        var profile = new Option<bool>("--profile") { Description = "Also time each encoder operation (inference and training), the mean over --iterations passes" };
        var bf16 = ProviderOption.Create();
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var grid = new Option<bool>("--grid") { Description = "Inference over a batch × tokens grid (fp32, and bf16 where oneDNN runs it natively) against ONNX Runtime, as a table; a short cell runs more passes than --iterations (0.1 s of them per engine and round, up to 15, over 3 rounds; over 15 rounds with --contend)" };
        var gridBatches = new Option<string>("--grid-batches") { Description = "The grid's batch sizes", DefaultValueFactory = _ => "1,8,32" };
        var gridTokens = new Option<string>("--grid-tokens") { Description = "The grid's sequence lengths", DefaultValueFactory = _ => "16,32,64,128,256,512" };
        var gridPause = new Option<int>("--grid-pause-ms")
        {
            Description = "The grid's pause before each timed pass: long enough for the other engine's spinning threads to sleep; a server's gap between requests (with --contend, drawn from half to one and a half of it)",
            DefaultValueFactory = _ => 5,
        };
        var contend = new Option<int>("--contend") { Description = "Busy threads the bench starts beside the measurement (a CPU shared with other work)" };
        var gridOneThread = new Option<bool>("--grid-one-thread")
        {
            Description = "The grid also times fp32 and bf16 on one thread in the same rounds, and prints the --threads / one-thread ratio",
        };
        var gridNoise = new Option<bool>("--grid-noise")
        {
            Description = "The grid also times fp32 a second time, as an engine of its own in the same rounds, and prints its rate over the first: " +
                "how far two identical engines differ in this run, the noise against which the other ratios are read",
        };
        var command = new Command("bench",
            "Measure inference (against ONNX Runtime on the same model, same run) and training throughput.\n\n" +
            "Examples:\n  bertsharp bench\n  bertsharp bench --batch 32 --seq 128 --threads 2 --json\n  bertsharp bench --bf16 --json\n" +
            "  bertsharp bench --grid --contend 2\n  bertsharp bench --grid --grid-batches 1 --grid-tokens 16 --contend 2 --grid-one-thread")
        {
            batch, seq, threads, model, trainBatch, iterations, profile, bf16, json, grid, gridBatches, gridTokens, gridPause, contend, gridOneThread,
            gridNoise,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(contend) < 0) throw new ArgumentException($"--contend ({parse.GetValue(contend)}) must not be negative");
            using var load = new BusyThreads(parse.GetValue(contend));
            if (parse.GetValue(grid))
            {
                bool asJson = parse.GetValue(json);
                if (!asJson)
                    BenchGrid.PrintHeader(parse.GetValue(model)!, parse.GetValue(threads), parse.GetValue(contend), parse.GetValue(iterations),
                        parse.GetValue(gridPause), ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16), parse.GetValue(gridOneThread), parse.GetValue(gridNoise));
                var cells = BenchGrid.Run(parse.GetValue(model)!, BenchGrid.Sizes(parse.GetValue(gridBatches)!, "--grid-batches"),
                    BenchGrid.Sizes(parse.GetValue(gridTokens)!, "--grid-tokens"), parse.GetValue(threads), parse.GetValue(iterations),
                    parse.GetValue(contend), parse.GetValue(gridPause), parse.GetValue(gridOneThread), asJson ? null : BenchGrid.PrintRow,
                    parse.GetValue(gridNoise));
                if (asJson) Console.WriteLine(cells.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var settings = new Settings(parse.GetValue(model)!, parse.GetValue(batch), parse.GetValue(seq), parse.GetValue(threads),
                parse.GetValue(trainBatch), parse.GetValue(iterations), parse.GetValue(profile), ProviderOption.Resolve(parse.GetValue(bf16)));
            var result = Run(settings);
            if (parse.GetValue(json)) Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(result);
            return 0;
        });
        return command;
    }

    private sealed record Settings(string Model, int Batch, int Seq, int Threads, int TrainBatch, int Iterations, bool Profile, ComputeProvider Provider);

    private static JsonObject Run(Settings s)
    {
        if (s.Batch <= 0 || s.Seq < 2) throw new ArgumentException($"--batch ({s.Batch}) must be positive and --seq ({s.Seq}) at least 2");
        if (s.Threads <= 0 || s.Iterations <= 0 || s.TrainBatch < 0)
            throw new ArgumentException($"--threads ({s.Threads}) and --iterations ({s.Iterations}) must be positive, --train-batch ({s.TrainBatch}) not negative");
        if (!BuiltInModels.IsBuiltIn(s.Model))
            throw new ArgumentException($"--model '{s.Model}': the benchmark compares against ONNX Runtime on the embedded model.onnx, so it needs a built-in model ({string.Join(", ", BuiltInModels.Names)})");
        Gemm.MaxThreads = s.Threads;
        var pretrained = PretrainedModel.Load(s.Model);
        if (s.Seq > pretrained.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"--seq {s.Seq} exceeds the model's max_position_embeddings ({pretrained.Config.MaxPositionEmbeddings})");
        var ids = ProseIds(pretrained);
        var input = Input(ids, s.Batch, s.Seq, offset: 0);

        var ours = new BertModel(pretrained.Config, pretrained.Weights) { Provider = s.Provider };
        using var ort = new OnnxRuntimeEncoder(s.Model, s.Threads);
        // Each engine times passes of its own in turn, after untimed ones that tier the JIT up and let
        // the other engine's threads go idle (see BenchGrid.Measure): alternating pass by pass had ours
        // start each pass beside ONNX Runtime's still-spinning worker, and a 1 × 128 pass ran at 0.6 of it.
        var rates = BenchGrid.Measure([() => ours.Forward(input), () => ort.Run(input)], s.Batch, s.Iterations, pauseMs: 0).Rates;
        double oursRate = rates[0], ortRate = rates[1];

        var result = new JsonObject
        {
            ["model"] = s.Model,
            ["batch"] = s.Batch,
            ["seq"] = s.Seq,
            ["threads"] = s.Threads,
            ["iterations"] = s.Iterations,
            ["provider"] = ComputeProviders.Describe(s.Provider),
            ["cpu"] = CpuName(),
            ["load_average"] = LoadAverage(),
            ["infer_samples_per_s"] = Round(oursRate),
            ["onnxruntime_infer_samples_per_s"] = Round(ortRate),
            ["infer_ratio"] = Math.Round(oursRate / ortRate, 3),
        };
        if (s.Profile) result["infer_profile_ms"] = Profile(() => ours.Forward(input), s.Iterations);

        if (s.TrainBatch > 0)
        {
            var classifier = new BertForSequenceClassification(pretrained.Config, pretrained.Weights) { Provider = s.Provider };
            var trainInput = Input(ids, s.TrainBatch, s.Seq, offset: 7);
            var labels = new int[s.TrainBatch];
            for (int i = 0; i < labels.Length; i++) labels[i] = i % classifier.NumLabels;
            void Step()
            {
                classifier.TrainStep(trainInput, labels, []);
                classifier.ZeroGrad();
            }
            Step();
            Step();
            var trainTimes = new double[s.Iterations];
            var trainCpu = new double[s.Iterations];
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < s.Iterations; i++)
            {
                var cpu = Environment.CpuUsage.TotalTime;
                trainTimes[i] = Seconds(Step);
                trainCpu[i] = (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;
            }
            allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            result["train_batch"] = s.TrainBatch;
            result["train_samples_per_s"] = Round(s.TrainBatch / Median(trainTimes));
            // Process CPU time per step: on a shared machine it moves far less with other load than
            // wall time does, so before/after comparisons use it (samples per CPU-second, all threads).
            result["train_samples_per_cpu_s"] = Round(s.TrainBatch / Median(trainCpu));
            result["train_allocated_bytes_per_step"] = allocated / s.Iterations;
            result["train_dropout"] = pretrained.Config.HiddenDropoutProb;
            if (s.Profile) result["train_profile_ms"] = Profile(Step, s.Iterations);
        }
        return result;
    }

    // The mean over passes: one pass's split moved by a third between runs on a shared 2-vCPU machine.
    private static JsonObject Profile(Action pass, int passes)
    {
        OpProfile.Reset();
        OpProfile.Enabled = true;
        try
        {
            for (int i = 0; i < passes; i++) pass();
        }
        finally
        {
            OpProfile.Enabled = false;
        }
        var o = new JsonObject();
        foreach (var (name, ms) in OpProfile.Milliseconds()) o[name] = Math.Round(ms / passes, 2);
        return o;
    }

    internal static double Seconds(Action action)
    {
        long start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    internal static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static double Round(double x) => Math.Round(x, 2);

    internal static string CpuName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores";
    }

    internal static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    // Rows of exactly seq real tokens: [CLS], a window of the prose's wordpieces (each row starts
    // elsewhere, so rows differ), [SEP].
    internal static BertInput Input(int[] prose, int batch, int seq, int offset)
    {
        int n = batch * seq;
        var input = new BertInput(batch, seq, new int[n], new int[n], new int[n]);
        Array.Fill(input.AttentionMask, 1);
        for (int b = 0; b < batch; b++)
        {
            var row = input.InputIds.AsSpan(b * seq, seq);
            for (int j = 1; j < seq - 1; j++) row[j] = prose[(offset + b * 11 + j) % (prose.Length - 2) + 1];
            row[0] = prose[0];
            row[^1] = prose[^1];
        }
        return input;
    }

    // [CLS] wordpieces-of-all-prose [SEP], through the model's own tokenizer.
    internal static int[] ProseIds(PretrainedModel model)
    {
        using var vocab = model.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = model.DoLowerCase }, model.Source);
        return tokenizer.Encode(string.Join(' ', Prose), null, new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate }).Ids;
    }

    private static void Print(JsonObject r)
    {
        Console.WriteLine($"model {r["model"]}, batch {r["batch"]}, seq {r["seq"]}, {r["threads"]} threads, {r["provider"]} on {r["cpu"]} (load {r["load_average"]})");
        Console.WriteLine($"inference  ours {r["infer_samples_per_s"]} samples/s, ONNX Runtime {r["onnxruntime_infer_samples_per_s"]} samples/s, ratio {r["infer_ratio"]}");
        if (r["train_samples_per_s"] is not null)
            Console.WriteLine($"training   {r["train_samples_per_s"]} samples/s ({r["train_samples_per_cpu_s"]} per CPU-second) at batch {r["train_batch"]} ({r["provider"]}, dropout on), {r["train_allocated_bytes_per_step"]} bytes allocated per step");
        foreach (var (key, title) in new[] { ("infer_profile_ms", "inference"), ("train_profile_ms", "training step") })
        {
            if (r[key] is not JsonObject p) continue;
            Console.WriteLine($"{title} profile (ms per pass, mean of {r["iterations"]})");
            foreach (var (name, ms) in p) Console.WriteLine($"  {name,-26}{ms,10}");
        }
    }
}
