using Microsoft.Extensions.Logging;

namespace BertSharp.IO;

/// <summary>
/// Where and how models named by a Hugging Face hub id are found and downloaded. The cache is Hugging Face's own
/// (<c>models--org--name/snapshots/&lt;commit&gt;</c>, <c>refs/&lt;branch&gt;</c> naming the commit), so models that
/// Python's <c>huggingface_hub</c> downloaded load without network, and the other way round.
/// </summary>
public sealed record HubOptions
{
    /// <summary>Base URL of the hub; <c>HF_ENDPOINT</c> overrides the default https://huggingface.co.</summary>
    public string Endpoint { get; init; } = Environment.GetEnvironmentVariable("HF_ENDPOINT") is { Length: > 0 } e ? e : "https://huggingface.co";

    /// <summary>
    /// The hub cache: <c>BERTSHARP_CACHE</c>, else <c>HF_HUB_CACHE</c>, else <c>HF_HOME</c>/hub, else
    /// <c>XDG_CACHE_HOME</c>/huggingface/hub, else ~/.cache/huggingface/hub (huggingface_hub's order).
    /// </summary>
    public string CacheDirectory { get; init; } = DefaultCacheDirectory();

    /// <summary>Branch, tag or commit to load (<c>--revision</c>).</summary>
    public string Revision { get; init; } = "main";

    /// <summary>Access token for gated or private models; <c>HF_TOKEN</c> by default. Sent to the hub's host only.</summary>
    public string? Token { get; init; } = Environment.GetEnvironmentVariable("HF_TOKEN") is { Length: > 0 } t ? t : null;

    /// <summary>
    /// Never touch the network: a model not in the cache is an error saying so. <c>HF_HUB_OFFLINE=1</c> (or true, yes,
    /// on) sets it, as it does for huggingface_hub.
    /// </summary>
    public bool Offline { get; init; } = Environment.GetEnvironmentVariable("HF_HUB_OFFLINE")?.Trim().ToUpperInvariant() is "1" or "TRUE" or "YES" or "ON";

    /// <summary>Limit for each request.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Told the bytes done of each file as it downloads (a progress bar, say); called on the downloading thread.</summary>
    public IProgress<DownloadProgress>? Progress { get; init; }

    /// <summary>Told which files are downloaded, resumed or found in the cache.</summary>
    public ILogger? Logger { get; init; }

    private static string DefaultCacheDirectory()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        if (Env("BERTSHARP_CACHE") is { } own) return own;
        if (Env("HF_HUB_CACHE") is { } hub) return hub;
        if (Env("HF_HOME") is { } home) return Path.Combine(home, "hub");
        var cache = Env("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "huggingface", "hub");
    }
}

/// <summary>How far the download of one file has come.</summary>
/// <param name="File">The file's name in the repository (<c>model.safetensors</c>).</param>
/// <param name="BytesDone">Bytes on disk so far, those of an earlier, interrupted attempt included.</param>
/// <param name="TotalBytes">The file's size, when the hub says it.</param>
public sealed record DownloadProgress(string File, long BytesDone, long? TotalBytes);
