using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// The counters behind GET /metrics, written in Prometheus' text exposition format (version 0.0.4).
/// Routes are the matched route patterns, never raw paths, and methods come from a closed set, so
/// the label set stays small whatever clients send.
/// </summary>
internal sealed class ServerMetrics
{
    private static readonly double[] LatencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] BatchBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly ConcurrentDictionary<(string Route, string Method, int Status), StrongBox<long>> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _latency = new();
    private readonly ConcurrentDictionary<string, StrongBox<long>> _errors = new();
    private long _texts, _inFlight;

    public Histogram BatchSize { get; } = new(BatchBounds);
    public Histogram BatchSeconds { get; } = new(LatencyBounds);

    /// <summary>Texts waiting for the model, read when /metrics is scraped.</summary>
    private readonly List<Func<long>> _queues = [];

    /// <summary>Counts a task queue's waiting texts into <c>bertsharp_queue_length</c>.</summary>
    public void AddQueue(Func<long> length)
    {
        lock (_queues) _queues.Add(length);
    }

    private long QueueLength()
    {
        lock (_queues) return _queues.Sum(q => q());
    }

    /// <summary>
    /// The method as a label value from a closed set: a client can send any token as a method, and
    /// each distinct value would otherwise become a series kept forever.
    /// </summary>
    public static string MethodLabel(string method) =>
        HttpMethods.IsGet(method) ? HttpMethods.Get
        : HttpMethods.IsPost(method) ? HttpMethods.Post
        : HttpMethods.IsHead(method) ? HttpMethods.Head
        : HttpMethods.IsPut(method) ? HttpMethods.Put
        : HttpMethods.IsDelete(method) ? HttpMethods.Delete
        : HttpMethods.IsPatch(method) ? HttpMethods.Patch
        : HttpMethods.IsOptions(method) ? HttpMethods.Options
        : "other";

    public void RequestStarted() => Interlocked.Increment(ref _inFlight);

    public void RequestFinished(string route, string method, int status, double seconds)
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _requests.GetOrAdd((route, method, status), static _ => new StrongBox<long>()).Value);
        _latency.GetOrAdd(route, static _ => new Histogram(LatencyBounds)).Observe(seconds);
    }

    public void Error(string code) => Interlocked.Increment(ref _errors.GetOrAdd(code, static _ => new StrongBox<long>()).Value);

    public void TextsClassified(int n) => Interlocked.Add(ref _texts, n);

    public string Render()
    {
        var text = new StringBuilder(4096);
        Header(text, "bertsharp_http_requests_total", "counter", "HTTP requests by route, method and status.");
        foreach (var ((route, method, status), count) in _requests.OrderBy(r => r.Key))
            text.Append(CultureInfo.InvariantCulture, $"bertsharp_http_requests_total{{route=\"{Escape(route)}\",method=\"{method}\",status=\"{status}\"}} {Volatile.Read(ref count.Value)}\n");
        Header(text, "bertsharp_http_request_duration_seconds", "histogram", "Time from request start to response end, by route.");
        foreach (var (route, histogram) in _latency.OrderBy(r => r.Key))
            histogram.Write(text, "bertsharp_http_request_duration_seconds", $"route=\"{Escape(route)}\",");
        Header(text, "bertsharp_errors_total", "counter", "Error responses by error code.");
        foreach (var (code, count) in _errors.OrderBy(e => e.Key))
            text.Append(CultureInfo.InvariantCulture, $"bertsharp_errors_total{{code=\"{Escape(code)}\"}} {Volatile.Read(ref count.Value)}\n");
        Header(text, "bertsharp_batch_size", "histogram", "Texts per model run of the dynamic batcher.");
        BatchSize.Write(text, "bertsharp_batch_size", "");
        Header(text, "bertsharp_batch_duration_seconds", "histogram", "Model time per batch.");
        BatchSeconds.Write(text, "bertsharp_batch_duration_seconds", "");
        Header(text, "bertsharp_texts_classified_total", "counter", "Texts classified.");
        text.Append(CultureInfo.InvariantCulture, $"bertsharp_texts_classified_total {Volatile.Read(ref _texts)}\n");
        Header(text, "bertsharp_queue_length", "gauge", "Texts waiting for the model.");
        text.Append(CultureInfo.InvariantCulture, $"bertsharp_queue_length {QueueLength()}\n");
        Header(text, "bertsharp_requests_in_flight", "gauge", "Requests being handled.");
        text.Append(CultureInfo.InvariantCulture, $"bertsharp_requests_in_flight {Volatile.Read(ref _inFlight)}\n");
        return text.ToString();
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
