using BertSharp.Inference;

namespace BertSharp.Server;

/// <summary>
/// What the server serves and how it batches and limits requests: the options of
/// <see cref="BertSharpServiceCollectionExtensions.AddBertSharp"/> and <see cref="BertServer.Build"/>.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>
    /// The loaded model to serve; the caller keeps ownership (dispose it after the server). When null,
    /// <see cref="Model"/> is loaded instead.
    /// </summary>
    public Pipeline? Pipeline { get; set; }

    /// <summary>A model directory (or built-in or hub name) to load when the app starts, when <see cref="Pipeline"/> is null; the server disposes it.</summary>
    public string? Model { get; set; }

    /// <summary>How <see cref="Model"/> runs: the managed encoder or the exported ONNX graph.</summary>
    public InferenceRuntime Runtime { get; set; } = InferenceRuntime.Managed;

    /// <summary>ONNX Runtime threads for <see cref="Model"/> (0: one per core).</summary>
    public int Threads { get; set; }

    /// <summary>Addresses <see cref="BertServer.Build"/> listens on, separated by ';' (port 0 picks a free port); an app hosting the server sets its own.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:5000";

    /// <summary>The name reported as "model" in responses.</summary>
    public string ModelName { get; set; } = "model";

    /// <summary>When set, every /v1/* request must send it as <c>Authorization: Bearer KEY</c> or <c>X-API-Key: KEY</c>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Serve GET /metrics without the API key (for a scraper inside a trusted network); by default it needs the key too.</summary>
    public bool MetricsPublic { get; set; }

    /// <summary>Most texts run through the model together.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>
    /// How long a batch waits for more requests once it has one, to fill up under load. It waits only while requests
    /// overlap (the last batch held several, or more arrived while it ran): a lone request runs at once.
    /// </summary>
    public TimeSpan MaxBatchWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Most texts waiting for the model; beyond it requests get 503 and should retry.</summary>
    public int QueueLimit { get; set; } = 1024;

    /// <summary>Largest request body in bytes (413 above it).</summary>
    public long MaxBodyBytes { get; set; } = 1 << 20;

    /// <summary>Most texts in one request (422 above it).</summary>
    public int MaxTextsPerRequest { get; set; } = 256;

    /// <summary>Longest text in characters (422 above it); the model reads at most its max length in tokens anyway.</summary>
    public int MaxCharsPerText { get; set; } = 10_000;

    /// <summary>Tokens kept for /v1/attention, whose answer grows with the square of the length.</summary>
    public int AttentionMaxTokens { get; set; } = 128;

    /// <summary>
    /// Requests each client (by remote address) may make to /v1/* per <see cref="RateLimitPeriod"/>, refilled
    /// evenly; beyond it the answer is 429 with Retry-After. 0: no limit.
    /// </summary>
    public int RateLimit { get; set; }

    /// <summary>The period <see cref="RateLimit"/> counts over.</summary>
    public TimeSpan RateLimitPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most requests a client may send at once after a quiet spell (the bucket's size); 0: <see cref="RateLimit"/>.</summary>
    public int RateLimitBurst { get; set; }

    /// <summary>How long shutdown waits for requests in flight to finish (the drain delay included).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// On shutdown, how long /health/ready answers 503 while requests are still served, before the
    /// server stops accepting: time for a load balancer's health checks to take this replica out.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Checks that every limit is positive and consistent.</summary>
    /// <exception cref="ArgumentException">A limit is out of range; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Urls)) throw new ArgumentException("urls: give at least one address, e.g. http://127.0.0.1:5000");
        if (MaxBatchSize < 1) throw new ArgumentException($"max batch size {MaxBatchSize}: must be ≥ 1");
        if (MaxBatchWait < TimeSpan.Zero) throw new ArgumentException($"max batch wait {MaxBatchWait.TotalMilliseconds} ms: must be ≥ 0");
        if (MaxTextsPerRequest < 1) throw new ArgumentException($"max texts per request {MaxTextsPerRequest}: must be ≥ 1");
        if (QueueLimit < MaxTextsPerRequest)
            throw new ArgumentException($"queue limit {QueueLimit}: must be at least the texts allowed in one request ({MaxTextsPerRequest})");
        if (MaxBodyBytes < 1024) throw new ArgumentException($"max body {MaxBodyBytes} bytes: must be ≥ 1024");
        if (MaxCharsPerText < 1) throw new ArgumentException($"max chars per text {MaxCharsPerText}: must be ≥ 1");
        if (AttentionMaxTokens < 3) throw new ArgumentException($"attention max tokens {AttentionMaxTokens}: must be ≥ 3");
        // An empty key must not quietly mean "no authentication": whoever set it meant to require one.
        if (ApiKey is not null && string.IsNullOrWhiteSpace(ApiKey)) throw new ArgumentException("api key: empty or only whitespace; give a real key, or leave it unset to serve without one");
        if (RateLimit < 0) throw new ArgumentException($"rate limit {RateLimit}: must be ≥ 0 (0: no limit)");
        if (RateLimitBurst < 0) throw new ArgumentException($"rate limit burst {RateLimitBurst}: must be ≥ 0 (0: the rate limit)");
        if (RateLimit > 0 && RateLimitPeriod <= TimeSpan.Zero) throw new ArgumentException($"rate limit period {RateLimitPeriod.TotalSeconds} s: must be > 0");
        if (Threads < 0) throw new ArgumentException($"threads {Threads}: must be ≥ 0");
        if (ShutdownTimeout < TimeSpan.Zero) throw new ArgumentException("shutdown timeout: must be ≥ 0");
        if (DrainDelay < TimeSpan.Zero || (DrainDelay > TimeSpan.Zero && DrainDelay >= ShutdownTimeout))
            throw new ArgumentException($"drain delay {DrainDelay.TotalSeconds} s: must be ≥ 0 and shorter than the shutdown timeout ({ShutdownTimeout.TotalSeconds} s), which it counts against");
    }
}
