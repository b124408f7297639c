namespace BertSharp.Server;

/// <summary>How <see cref="BertServer"/> listens, batches and limits requests.</summary>
public sealed record ServerOptions
{
    /// <summary>Addresses to listen on, separated by ';' (port 0 picks a free port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5000";

    /// <summary>The name reported as "model" in responses.</summary>
    public string ModelName { get; init; } = "model";

    /// <summary>When set, every /v1/* request must send it as <c>Authorization: Bearer KEY</c> or <c>X-API-Key: KEY</c>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Most texts run through the model together.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>How long a batch waits for more requests once it has one, to fill up under load.</summary>
    public TimeSpan MaxBatchWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Most texts waiting for the model; beyond it requests get 503 and should retry.</summary>
    public int QueueLimit { get; init; } = 1024;

    /// <summary>Largest request body in bytes (413 above it).</summary>
    public long MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Most texts in one request (422 above it).</summary>
    public int MaxTextsPerRequest { get; init; } = 256;

    /// <summary>Longest text in characters (422 above it); the model reads at most its max length in tokens anyway.</summary>
    public int MaxCharsPerText { get; init; } = 10_000;

    /// <summary>Tokens kept for /v1/attention, whose answer grows with the square of the length.</summary>
    public int AttentionMaxTokens { get; init; } = 128;

    /// <summary>How long shutdown waits for requests in flight to finish (the drain delay included).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// On shutdown, how long /health/ready answers 503 while requests are still served, before the
    /// server stops accepting: time for a load balancer's health checks to take this replica out.
    /// </summary>
    public TimeSpan DrainDelay { get; init; } = TimeSpan.Zero;

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
        if (ApiKey is { Length: 0 }) throw new ArgumentException("api key: empty; leave it unset to serve without one");
        if (ShutdownTimeout < TimeSpan.Zero) throw new ArgumentException("shutdown timeout: must be ≥ 0");
        if (DrainDelay < TimeSpan.Zero || (DrainDelay > TimeSpan.Zero && DrainDelay >= ShutdownTimeout))
            throw new ArgumentException($"drain delay {DrainDelay.TotalSeconds} s: must be ≥ 0 and shorter than the shutdown timeout ({ShutdownTimeout.TotalSeconds} s), which it counts against");
    }
}
