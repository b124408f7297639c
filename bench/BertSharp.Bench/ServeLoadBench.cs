using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Server;
using BertSharp.Tensors;

namespace BertSharp.Bench;

/// <summary>
/// Load on <c>bertsharp serve</c> over loopback: single-sentence POST /v1/classify requests from 1, 8
/// and 64 concurrent .NET clients, on the managed runtime (fp32, and bf16 where oneDNN is installed) and on ONNX Runtime, each level bounded in
/// requests and in seconds; requests/s, p50 and p99 latency, and the mean batch the dynamic batcher
/// formed. Each level runs in --rounds rounds (3) in which the runtimes take turns, so that a ratio between
/// runtimes holds on a machine whose speed drifts. The server runs in this process (Kestrel on 127.0.0.1, port chosen by the OS); the model is
/// minilm-l6 with a seeded random two-label head (the head's weights do not change the cost), or
/// --model DIR; sentences are sentence-polarity/dev.csv's, in order. --think-ms N has each client wait N ms between
/// an answer and its next request, as a client across a network or a person does: the server's threads then go idle
/// between requests, where over loopback with no wait they do not.
/// </summary>
internal static class ServeLoadBench
{
    public static int Run(string[] args)
    {
        string? modelDir = Arg(args, "--model");
        int maxRequests = int.Parse(Arg(args, "--requests") ?? "3000", CultureInfo.InvariantCulture);
        double maxSeconds = double.Parse(Arg(args, "--seconds") ?? "10", CultureInfo.InvariantCulture);
        int[] levels = [.. (Arg(args, "--concurrency") ?? "1,8,64").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
        // managed-bf16: the managed model on the oneDNN bf16 provider (where libdnnl2 is installed).
        string[] runtimes = (Arg(args, "--runtimes") ?? (ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16) ? "managed,managed-bf16,onnx" : "managed,onnx")).Split(',');
        int rounds = int.Parse(Arg(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        int thinkMs = int.Parse(Arg(args, "--think-ms") ?? "0", CultureInfo.InvariantCulture);
        if (thinkMs < 0) throw new ArgumentException($"--think-ms {thinkMs}: must be ≥ 0");
        if (rounds < 1) throw new ArgumentException($"--rounds {rounds}: must be ≥ 1");
        string data = Arg(args, "--data") ?? Path.Combine("..", "shared", "data");
        var sentences = File.ReadLines(Path.Combine(data, "sentence-polarity", "dev.csv")).Skip(1).Select(l => l[..l.LastIndexOf(',')]).ToArray();
        var bodies = sentences.Select(s => Encoding.UTF8.GetBytes($"{{\"text\": \"{s.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"}}")).ToArray();

        string? temp = null;
        try
        {
            if (modelDir is null)
            {
                temp = Directory.CreateTempSubdirectory("bertsharp-serve-bench-").FullName;
                modelDir = MiniLmClassifier(temp);
            }
            else if (runtimes.Contains("onnx") && !File.Exists(Path.Combine(modelDir, OnnxRuntimeModel.FileName)))
            {
                throw new FileNotFoundException($"{modelDir}: no model.onnx for the onnx runtime; run bertsharp export-onnx --model {modelDir}");
            }
            Console.WriteLine($"serve-load: {modelDir}, {Environment.ProcessorCount} cores, at most {maxRequests} requests or {maxSeconds} s per level, " +
                $"max batch {new ServerOptions().MaxBatchSize}, max wait {new ServerOptions().MaxBatchWait.TotalMilliseconds} ms, clients wait {thinkMs} ms between requests");
            Console.WriteLine($"each level in {rounds} rounds, the runtimes taking turns (a burst of outside load hits every runtime); each turn after {WarmPerTurn} untimed requests");
            Console.WriteLine("| runtime | clients | requests | requests/s | p50 ms | p99 ms | mean batch | model ms per batch |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            RunLevels(modelDir, runtimes, levels, rounds, bodies, maxRequests, maxSeconds, thinkMs).GetAwaiter().GetResult();
            return 0;
        }
        finally
        {
            if (temp is not null) Directory.Delete(temp, recursive: true);
        }
    }

    private const int WarmPerTurn = 10;

    // Every runtime's server runs from the start, idle but for its turns: within a round each runtime serves the
    // level for its share of the requests and seconds, so the runtimes are compared over the same stretch of time.
    private static async Task RunLevels(string modelDir, string[] runtimes, int[] levels, int rounds, byte[][] bodies, int maxRequests, double maxSeconds, int thinkMs)
    {
        var served = new List<(string Runtime, TextClassifier Classifier, Microsoft.AspNetCore.Builder.WebApplication App, HttpClient Client)>();
        try
        {
            foreach (var runtime in runtimes)
            {
                var classifier = TextClassifier.Load(modelDir, runtime == "onnx" ? InferenceRuntime.Onnx : InferenceRuntime.Managed);
                if (runtime == "managed-bf16") classifier.Provider = ComputeProvider.OneDnnBf16;
                var app = BertServer.Build(classifier, new ServerOptions { Urls = "http://127.0.0.1:0", ModelName = "bench" });
                var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 });
                served.Add((runtime, classifier, app, client));
                await app.StartAsync();
                client.BaseAddress = new Uri(app.Urls.First());
                await Load(client, bodies, 4, 50, 30, 0); // warm-up: JIT, connections, pooled buffers
            }
            foreach (int clients in levels)
            {
                var latencies = served.Select(_ => new List<double>()).ToArray();
                var seconds = new double[served.Count];
                var batches = new double[served.Count];
                var texts = new double[served.Count];
                var modelSeconds = new double[served.Count];
                for (int r = 0; r < rounds; r++)
                {
                    for (int i = 0; i < served.Count; i++)
                    {
                        var client = served[i].Client;
                        await Load(client, bodies, clients, WarmPerTurn, maxSeconds, thinkMs); // the previous runtime's threads settle
                        var before = await client.GetStringAsync("/metrics");
                        var (turn, turnSeconds) = await Load(client, bodies, clients, maxRequests / rounds, maxSeconds / rounds, thinkMs);
                        var after = await client.GetStringAsync("/metrics");
                        latencies[i].AddRange(turn);
                        seconds[i] += turnSeconds;
                        batches[i] += Metric(after, "bertsharp_batch_size_count") - Metric(before, "bertsharp_batch_size_count");
                        texts[i] += Metric(after, "bertsharp_batch_size_sum") - Metric(before, "bertsharp_batch_size_sum");
                        modelSeconds[i] += Metric(after, "bertsharp_batch_duration_seconds_sum") - Metric(before, "bertsharp_batch_duration_seconds_sum");
                    }
                }
                for (int i = 0; i < served.Count; i++)
                {
                    var l = latencies[i];
                    l.Sort();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {served[i].Runtime} | {clients} | {l.Count} | {l.Count / seconds[i]:F1} | {Percentile(l, 0.50) * 1000:F1} | {Percentile(l, 0.99) * 1000:F1} | {texts[i] / Math.Max(1, batches[i]):F1} | {modelSeconds[i] * 1000 / Math.Max(1, batches[i]):F2} |"));
                }
            }
        }
        finally
        {
            foreach (var (_, classifier, app, client) in served)
            {
                client.Dispose();
                await app.StopAsync();
                await app.DisposeAsync();
                classifier.Dispose();
            }
        }
    }

    // `clients` loops, each sending its next request thinkMs after the last one is answered, until the
    // request budget or the time budget is spent.
    private static async Task<(List<double> Latencies, double Seconds)> Load(HttpClient client, byte[][] bodies, int clients, int maxRequests, double maxSeconds, int thinkMs)
    {
        int issued = -1;
        var stop = Stopwatch.StartNew();
        var all = new List<double>[clients];
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = all[c] = [];
            int n;
            while ((n = Interlocked.Increment(ref issued)) < maxRequests && stop.Elapsed.TotalSeconds < maxSeconds)
            {
                if (thinkMs > 0) await Task.Delay(thinkMs);
                var content = new ByteArrayContent(bodies[n % bodies.Length]);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                long started = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync("/v1/classify", content);
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"request {n}: HTTP {(int)response.StatusCode}");
                mine.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        })));
        double seconds = stop.Elapsed.TotalSeconds;
        return ([.. all.SelectMany(l => l)], seconds);
    }

    /// <summary>minilm-l6 with a seeded random 2-label head, saved as a model directory with its ONNX export.</summary>
    internal static string MiniLmClassifier(string root)
    {
        var baseModel = PretrainedModel.Load("minilm-l6");
        int h = baseModel.Config.HiddenSize;
        var random = new Random(5);
        var weights = new StateDict { Source = "minilm-l6 + random head" };
        foreach (var (k, v) in baseModel.Weights) weights[k] = v;
        weights["classifier.weight"] = new FloatTensor([2, h], [.. Enumerable.Range(0, 2 * h).Select(_ => (float)(random.NextDouble() - 0.5) * 0.1f)]);
        weights["classifier.bias"] = new FloatTensor([2]);
        var model = new PretrainedModel
        {
            Config = baseModel.Config with
            {
                Id2Label = new Dictionary<string, string> { ["0"] = "negative", ["1"] = "positive" },
                Label2Id = new Dictionary<string, int> { ["negative"] = 0, ["positive"] = 1 },
                Architectures = ["BertForSequenceClassification"],
            },
            Weights = weights,
            Source = weights.Source,
            OpenVocab = baseModel.OpenVocab,
            DoLowerCase = baseModel.DoLowerCase,
            ModelMaxLength = 128,
        };
        var dir = Path.Combine(root, "minilm-l6-classifier");
        model.Save(dir);
        OnnxExporter.Export(PretrainedModel.Load(dir), Path.Combine(dir, OnnxRuntimeModel.FileName));
        return dir;
    }

    private static double Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

    internal static double Metric(string text, string series)
    {
        // OpenTelemetry's exporter writes a series without labels as "name{} value".
        foreach (var line in text.Split('\n'))
            foreach (var prefix in new[] { series + " ", series + "{} " })
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                    return double.Parse(line[prefix.Length..], CultureInfo.InvariantCulture);
        return 0;
    }

    internal static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
