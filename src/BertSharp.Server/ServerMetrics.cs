using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// The server's instruments on the <see cref="MeterName"/> meter, which OpenTelemetry's Prometheus exporter
/// writes at /metrics (a counter gains <c>_total</c>, a unit <c>_seconds</c>). Routes are the matched route
/// patterns, never raw paths, and methods come from a closed set, so the series stay few whatever clients send.
/// </summary>
internal sealed class ServerMetrics
{
    /// <summary>The meter's name, for an app that exports it elsewhere (OTLP, another scrape path).</summary>
    public const string MeterName = "BertSharp.Server";

    private static readonly double[] LatencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly int[] BatchBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _errors;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _batchSeconds;
    private readonly Counter<long> _texts;
    private readonly UpDownCounter<long> _inFlight;

    /// <summary>Texts waiting for the model, read when /metrics is scraped.</summary>
    private readonly List<Func<long>> _queues = [];

    /// <param name="meters">The app's meter factory: the meter it makes belongs to this app alone, so two servers in one process count apart.</param>
    public ServerMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _requests = meter.CreateCounter<long>("bertsharp_http_requests", "{request}", "HTTP requests by route, method and status.");
        _latency = meter.CreateHistogram("bertsharp_http_request_duration", "s", "Time from request start to response end, by route.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBounds });
        _errors = meter.CreateCounter<long>("bertsharp_errors", "{response}", "Error responses by error code.");
        _batchSize = meter.CreateHistogram("bertsharp_batch_size", "{text}", "Texts per model run of the dynamic batcher.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBounds });
        _batchSeconds = meter.CreateHistogram("bertsharp_batch_duration", "s", "Model time per batch.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBounds });
        _texts = meter.CreateCounter<long>("bertsharp_texts_classified", "{text}", "Texts run through the model by the batcher.");
        meter.CreateObservableGauge("bertsharp_queue_length", QueueLength, "{text}", "Texts waiting for the model.");
        _inFlight = meter.CreateUpDownCounter<long>("bertsharp_requests_in_flight", "{request}", "Requests being handled.");
    }

    /// <summary>Counts a task queue's waiting texts into <c>bertsharp_queue_length</c>.</summary>
    public void AddQueue(Func<long> length)
    {
        lock (_queues) _queues.Add(length);
    }

    /// <summary>Texts waiting for the model in every task queue.</summary>
    public long QueueLength()
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

    public void RequestStarted() => _inFlight.Add(1);

    public void RequestFinished(string route, string method, int status, double seconds)
    {
        _inFlight.Add(-1);
        _requests.Add(1, new TagList { { "route", route }, { "method", method }, { "status", status } });
        _latency.Record(seconds, new KeyValuePair<string, object?>("route", route));
    }

    public void Error(string code) => _errors.Add(1, new KeyValuePair<string, object?>("code", code));

    /// <summary>One model run of the dynamic batcher: its texts and its time.</summary>
    public void BatchRan(int texts, double seconds)
    {
        _batchSeconds.Record(seconds);
        _batchSize.Record(texts);
        _texts.Add(texts);
    }
}
