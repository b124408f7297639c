namespace BertSharp.IO;

/// <summary>Where and how models named by a Hugging Face hub id are downloaded and cached.</summary>
public sealed record HubOptions
{
    /// <summary>Base URL of the hub; <c>HF_ENDPOINT</c> overrides the default https://huggingface.co.</summary>
    public string Endpoint { get; init; } = Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } e ? e : "https://huggingface.co";

    /// <summary>Cache root; <c>BERTSHARP_CACHE</c> overrides the default ~/.cache/bertsharp.</summary>
    public string CacheDirectory { get; init; } = Environment.GetEnvironmentVariable("BERTSHARP_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "bertsharp");

    /// <summary>Branch, tag or commit to download.</summary>
    public string Revision { get; init; } = "main";

    /// <summary>Access token for gated or private models; <c>HF_TOKEN</c> by default. Sent to the hub's host only.</summary>
    public string? Token { get; init; } = Environment.GetEnvironmentVariable("HF_TOKEN") is { Length: > 0 } t ? t : null;

    /// <summary>Limit for each request.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
}
