using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using BertSharp.Inference;
using BertSharp.Server;

namespace BertSharp.Bench;

/// <summary>
/// The hardening audit's server load (issue 15): 64 clients for 30 s against <c>bertsharp serve</c>
/// with an API key, each sending a rotation of good single-text classifications and bad requests —
/// malformed JSON, invalid UTF-8, lone surrogates, invented HTTP methods, no key, wrong content type,
/// empty text, too many texts, an oversize body, and 64-text requests abandoned by their client
/// after 50 ms. Reports good requests failed (must be 0), any 5xx to a bad request (must be 0), the
/// statuses seen per kind, the process's working set and GC heap over the run, and the size of
/// /metrics at the start and end (must stay bounded).
/// </summary>
internal static class ServeMixedLoadBench
{
    private const string Key = "bench-key";

    private sealed record Kind(string Name, Func<int, HttpRequestMessage> Build, Func<int, bool> Expected, bool Abandon = false);

    public static int Run(string[] args)
    {
        string? modelDir = ServeLoadBench.Arg(args, "--model");
        int clients = int.Parse(ServeLoadBench.Arg(args, "--clients") ?? "64", CultureInfo.InvariantCulture);
        double seconds = double.Parse(ServeLoadBench.Arg(args, "--seconds") ?? "30", CultureInfo.InvariantCulture);
        string data = ServeLoadBench.Arg(args, "--data") ?? Path.Combine("..", "shared", "data");
        var sentences = File.ReadLines(Path.Combine(data, "sentence-polarity", "dev.csv")).Skip(1).Select(l => l[..l.LastIndexOf(',')]).ToArray();
        string? temp = null;
        try
        {
            if (modelDir is null)
            {
                temp = Directory.CreateTempSubdirectory("bertsharp-mixed-bench-").FullName;
                modelDir = ServeLoadBench.MiniLmClassifier(temp);
            }
            using var classifier = TextClassifier.Load(modelDir);
            return RunAsync(classifier, Kinds(sentences), clients, seconds).GetAwaiter().GetResult();
        }
        finally
        {
            if (temp is not null) Directory.Delete(temp, recursive: true);
        }
    }

    private static Kind[] Kinds(string[] sentences)
    {
        static HttpRequestMessage Post(string path, byte[] body, string contentType = "application/json", bool key = true)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            if (key) request.Headers.Add("X-API-Key", Key);
            return request;
        }
        static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        var good = new Kind("good", n => Post("/v1/classify", Encoding.UTF8.GetBytes($"{{\"text\": {Quote(sentences[n % sentences.Length])}}}")), s => s == 200);
        var manyTexts = Encoding.UTF8.GetBytes("{\"texts\": [" + string.Join(",", sentences.Take(64).Select(Quote)) + "]}");
        return
        [
            good, good, good, good, good, good,
            new("malformed JSON", _ => Post("/v1/classify", "{\"text\": \"unclosed"u8.ToArray()), s => s == 400),
            new("invalid UTF-8", n => Post(n % 2 == 0 ? "/v1/classify" : "/v1/embed", [.. "{\"text\": \"caf"u8, 0xC3, .. "\"}"u8]), s => s == 400),
            new("lone surrogate", n => Post(n % 2 == 0 ? "/v1/classify" : "/v1/tokenize", "{\"text\": \"a \\ud800 b\"}"u8.ToArray()), s => s == 400),
            // Without a key the key check answers first (401); the method is refused all the same.
            new("invented method", n => new HttpRequestMessage(new HttpMethod($"X{n}"), "/v1/classify"), s => s is 401 or 405),
            new("no API key", _ => Post("/v1/classify", "{\"text\": \"a fine film\"}"u8.ToArray(), key: false), s => s == 401),
            new("wrong content type", _ => Post("/v1/classify", "{\"text\": \"a fine film\"}"u8.ToArray(), "text/plain"), s => s == 415),
            new("empty text", _ => Post("/v1/classify", "{\"text\": \"  \"}"u8.ToArray()), s => s == 422),
            new("too many texts", _ => Post("/v1/classify", Encoding.UTF8.GetBytes("{\"texts\": [" + string.Join(",", Enumerable.Repeat("\"a\"", 300)) + "]}")), s => s == 422),
            new("oversize body", _ => Post("/v1/classify", Encoding.UTF8.GetBytes("{\"text\": \"" + new string('a', 2 << 20) + "\"}")), s => s == 413),
            new("abandoned 64 texts", _ => Post("/v1/classify", manyTexts), _ => true, Abandon: true),
        ];
    }

    private static async Task<int> RunAsync(TextClassifier classifier, Kind[] kinds, int clients, double seconds)
    {
        var app = BertServer.Build(classifier, new ServerOptions { Urls = "http://127.0.0.1:0", ModelName = "bench", ApiKey = Key });
        await app.StartAsync();
        try
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024 }) { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(120) };
            var statuses = new ConcurrentDictionary<(string Kind, int Status), int>();
            var unexpected = new ConcurrentDictionary<string, int>();
            int goodFailed = 0, serverErrors = 0, abandoned = 0;
            var goodLatencies = new ConcurrentBag<double>();
            int metricsBefore = (await MetricsAsync(client)).Length;
            using var process = Process.GetCurrentProcess();
            var memory = new List<(double At, long WorkingSet, long Heap)>();
            var stop = Stopwatch.StartNew();
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    process.Refresh();
                    lock (memory) memory.Add((stop.Elapsed.TotalSeconds, process.WorkingSet64, GC.GetTotalMemory(false)));
                    try { await Task.Delay(5000, sampling.Token); } catch (OperationCanceledException) { }
                }
            });
            int issued = -1;
            await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                while (stop.Elapsed.TotalSeconds < seconds)
                {
                    int n = Interlocked.Increment(ref issued);
                    var kind = kinds[n % kinds.Length];
                    using var request = kind.Build(n);
                    using var cancel = kind.Abandon ? new CancellationTokenSource(TimeSpan.FromMilliseconds(50)) : new CancellationTokenSource();
                    long started = Stopwatch.GetTimestamp();
                    int status;
                    try
                    {
                        using var response = await client.SendAsync(request, cancel.Token);
                        await response.Content.ReadAsByteArrayAsync(cancel.Token);
                        status = (int)response.StatusCode;
                    }
                    catch (OperationCanceledException) when (kind.Abandon)
                    {
                        Interlocked.Increment(ref abandoned);
                        continue;
                    }
                    catch (HttpRequestException e)
                    {
                        // The server may close an oversize upload's connection; anything else counts as a failure.
                        unexpected.AddOrUpdate($"{kind.Name}: {e.Message}", 1, (_, v) => v + 1);
                        if (kind.Name == "good") Interlocked.Increment(ref goodFailed);
                        continue;
                    }
                    statuses.AddOrUpdate((kind.Name, status), 1, (_, v) => v + 1);
                    if (status >= 500) Interlocked.Increment(ref serverErrors);
                    if (kind.Name == "good")
                    {
                        if (status == 200) goodLatencies.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
                        else Interlocked.Increment(ref goodFailed);
                    }
                    else if (!kind.Expected(status)) unexpected.AddOrUpdate($"{kind.Name}: HTTP {status}", 1, (_, v) => v + 1);
                }
            })));
            double elapsed = stop.Elapsed.TotalSeconds;
            sampling.Cancel();
            await sampler;
            process.Refresh();
            memory.Add((elapsed, process.WorkingSet64, GC.GetTotalMemory(false)));
            var metrics = await MetricsAsync(client);

            var latencies = goodLatencies.Order().ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mixed-load: {clients} clients, {elapsed:F1} s, {issued + 1} requests ({Environment.ProcessorCount} cores, load average {LoadAverage()})"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"good: {latencies.Count} answered 200, {goodFailed} failed; {latencies.Count / elapsed:F1}/s, p50 {Quantile(latencies, 0.5) * 1000:F0} ms, p99 {Quantile(latencies, 0.99) * 1000:F0} ms"));
            Console.WriteLine($"bad: {serverErrors} answered 5xx; abandoned by their client: {abandoned}");
            Console.WriteLine("| kind | status | count |");
            Console.WriteLine("| --- | ---: | ---: |");
            foreach (var ((kind, status), count) in statuses.OrderBy(s => s.Key.Kind, StringComparer.Ordinal).ThenBy(s => s.Key.Status))
                Console.WriteLine($"| {kind} | {status} | {count} |");
            foreach (var (what, count) in unexpected) Console.WriteLine($"unexpected: {what} × {count}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"/metrics: {metricsBefore} bytes before, {metrics.Length} after ({metrics.Split('\n').Length} lines)"));
            Console.WriteLine("memory (s: working set MiB / GC heap MiB): " + string.Join(", ", memory.Select(m =>
                string.Create(CultureInfo.InvariantCulture, $"{m.At:F0}: {m.WorkingSet / 1048576.0:F0}/{m.Heap / 1048576.0:F0}"))));
            return goodFailed == 0 && serverErrors == 0 ? 0 : 1;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task<string> MetricsAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Add("X-API-Key", Key);
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    private static double Quantile(List<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
