using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace BertSharp.Bench;

/// <summary>
/// Load on a running address (a load balancer in front of <c>bertsharp serve</c> replicas, see
/// bench/haproxy_drain.sh): N clients post single sentences to /v1/classify for a bounded time and
/// count every answer that is not 200 and every request that failed at the socket, with the second
/// it happened in, so a replica's restart shows up as failures or as nothing. Addresses must be
/// loopback. <c>--write-model DIR</c> writes the model the script serves (minilm-l6 with a seeded
/// random two-label head) and exits.
/// </summary>
internal static class BalancerLoadBench
{
    public static int Run(string[] args)
    {
        if (ServeLoadBench.Arg(args, "--write-model") is { } target)
        {
            var dir = ServeLoadBench.MiniLmClassifier(target);
            Console.WriteLine(dir);
            return 0;
        }
        var url = new Uri(ServeLoadBench.Arg(args, "--url") ?? "http://127.0.0.1:18080");
        if (!url.IsLoopback) throw new ArgumentException($"--url {url}: this benchmark only drives loopback addresses");
        double seconds = double.Parse(ServeLoadBench.Arg(args, "--seconds") ?? "30", CultureInfo.InvariantCulture);
        int clients = int.Parse(ServeLoadBench.Arg(args, "--concurrency") ?? "8", CultureInfo.InvariantCulture);
        string data = ServeLoadBench.Arg(args, "--data") ?? Path.Combine("..", "shared", "data");
        var sentences = File.ReadLines(Path.Combine(data, "sentence-polarity", "dev.csv")).Skip(1).Select(l => l[..l.LastIndexOf(',')]).ToArray();
        var bodies = sentences.Select(s => $"{{\"text\": \"{s.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"}}").ToArray();

        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        var clock = Stopwatch.StartNew();
        var latencies = new List<double>[clients];
        var failures = new List<string>();
        int next = -1;
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            latencies[c] = [];
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                int i = Interlocked.Increment(ref next);
                long started = Stopwatch.GetTimestamp();
                string? failure = null;
                try
                {
                    using var r = await http.PostAsync("/v1/classify", new StringContent(bodies[i % bodies.Length], Encoding.UTF8, "application/json"));
                    await r.Content.ReadAsByteArrayAsync();
                    if ((int)r.StatusCode != 200) failure = $"HTTP {(int)r.StatusCode}";
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    failure = e.GetType().Name + ": " + e.Message;
                }
                if (failure is null) latencies[c].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                else lock (failures) failures.Add(string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalSeconds:F1} s: {failure}"));
            }
        })).ToArray();
        Task.WaitAll(tasks);
        double elapsed = clock.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToList();
        double P(double q) => all.Count == 0 ? double.NaN : all[Math.Min(all.Count - 1, (int)Math.Ceiling(q * all.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"balancer-load: {url} {clients} clients {elapsed:F1} s: {all.Count + failures.Count} requests, {all.Count} answered 200, {failures.Count} failed; {all.Count / elapsed:F1} requests/s, p50 {P(0.5):F1} ms, p99 {P(0.99):F1} ms, max {P(1):F1} ms"));
        foreach (var f in failures.Take(20)) Console.WriteLine("  failed at " + f);
        return failures.Count == 0 ? 0 : 1;
    }
}
