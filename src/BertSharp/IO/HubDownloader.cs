using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BertSharp.IO;

/// <summary>
/// Finds a hub model in Hugging Face's cache (<see cref="HubCache"/>) or downloads its files into it and verifies
/// them: the size, the sha256 that the hub sends as <c>X-Linked-ETag</c> for LFS files, and the git blob sha1 it sends
/// as <c>ETag</c> for small files. A file arrives as <c>&lt;name&gt;.incomplete</c> beside its final place and is renamed
/// when verified, so an interrupted download never looks complete, and the next attempt asks for the rest only (HTTP
/// Range). A revision found in the cache is used without network.
/// </summary>
internal static partial class HubDownloader
{
    // Optional files first and the weights last: the weights' presence marks a complete download.
    private static readonly (string File, bool Required)[] Files =
        [(HfDirectory.TokenizerConfigFile, false), (HfDirectory.ConfigFile, true), (HfDirectory.VocabFile, true), (HfDirectory.WeightsFile, true)];

    public static bool IsHubId(string name) => HubId().IsMatch(name);

    /// <summary>Returns the local snapshot folder holding the model's files, downloading what is missing.</summary>
    public static string Download(string repoId, HubOptions options) =>
        DownloadAsync(repoId, options, CancellationToken.None).GetAwaiter().GetResult();

    /// <inheritdoc cref="Download"/>
    public static async Task<string> DownloadAsync(string repoId, HubOptions options, CancellationToken cancellation)
    {
        if (!IsHubId(repoId)) throw new ArgumentException($"'{repoId}' is not a hub model id (name or organisation/name)");
        HubCache.CheckRevision(options.Revision);
        var logger = options.Logger ?? NullLogger.Instance;
        var cached = HubCache.Snapshot(options.CacheDirectory, repoId, options.Revision);
        // Offline, an incomplete snapshot is still the answer: loading it names the file it lacks.
        if (cached is not null && (options.Offline || IsComplete(cached)))
        {
            LogCached(logger, repoId, options.Revision, cached);
            return cached;
        }
        if (options.Offline)
            throw new IOException($"'{repoId}' (revision {options.Revision}) is not in the Hugging Face cache ({options.CacheDirectory}) " +
                "and HF_HUB_OFFLINE is set, so it is not downloaded; download it once online, or name a local directory");

        // Folders this call creates are removed again if it fails before putting a file in them.
        var created = new List<string>();
        try
        {
            return await DownloadFiles(repoId, options, logger, created, cancellation).ConfigureAwait(false);
        }
        catch
        {
            foreach (var folder in created.OrderByDescending(f => f.Length))
            {
                if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
            }
            throw;
        }
    }

    private static bool IsComplete(string snapshot) =>
        File.Exists(Path.Combine(snapshot, HfDirectory.ConfigFile)) && File.Exists(Path.Combine(snapshot, HfDirectory.VocabFile))
        && (File.Exists(Path.Combine(snapshot, HfDirectory.WeightsFile)) || File.Exists(Path.Combine(snapshot, HfDirectory.WeightsIndexFile)));

    private static async Task<string> DownloadFiles(string repoId, HubOptions options, ILogger logger, List<string> created, CancellationToken cancellation)
    {
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(20) })
        {
            Timeout = options.Timeout,
        };
        var endpoint = new Uri(options.Endpoint.TrimEnd('/') + "/");
        // The revision becomes the commit the hub names for the first file, so every file comes from one commit even
        // if the branch moves meanwhile, and a resumed download continues the same snapshot.
        string revision = options.Revision;
        string? snapshot = null;
        foreach (var (file, required) in Files)
        {
            var url = new Uri(endpoint, $"{repoId}/resolve/{Uri.EscapeDataString(revision)}/{file}");
            var remote = await Metadata(http, url, repoId, endpoint, options, cancellation).ConfigureAwait(false);
            if (remote is null)
            {
                if (!required) continue;
                throw new FileNotFoundException(file == HfDirectory.WeightsFile
                    ? $"{repoId} has no {file} on {endpoint} (revision {options.Revision}); BertSharp reads safetensors weights only"
                    : $"{repoId} has no {file} on {endpoint} (revision {options.Revision}); is it a BERT model?", url.ToString());
            }
            if (snapshot is null)
            {
                revision = remote.Commit ?? (HubCache.IsCommit(options.Revision) ? options.Revision
                    : throw new IOException($"{url}: the hub named no commit (X-Repo-Commit header), which the cache's layout needs"));
                snapshot = HubCache.SnapshotFolder(options.CacheDirectory, repoId, revision);
                // The file itself comes from that commit too, not from whatever the branch names a moment later.
                if (remote.DownloadUrl == url) remote = remote with { DownloadUrl = new Uri(endpoint, $"{repoId}/resolve/{revision}/{file}") };
            }
            var target = Path.Combine(snapshot, file);
            if (File.Exists(target)) continue;
            CreateDirectory(snapshot, created);
            await Fetch(http, remote, target, file, repoId, endpoint, options, logger, cancellation).ConfigureAwait(false);
        }
        if (revision != options.Revision)
        {
            // What refs/<branch> says is what a later offline load of the branch finds, as in huggingface_hub.
            var reference = HubCache.RefFile(options.CacheDirectory, repoId, options.Revision);
            CreateDirectory(Path.GetDirectoryName(reference)!, created);
            AtomicFile.WriteAllText(reference, revision);
        }
        return snapshot!;
    }

    private static void CreateDirectory(string path, List<string> created)
    {
        for (var d = path; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) created.Add(d);
        Directory.CreateDirectory(path);
    }

    /// <summary>What the hub says about a file before it is fetched; null when it has no such file.</summary>
    private sealed record Remote(Uri DownloadUrl, string? Commit, string? Etag, long? Size);

    private static async Task<Remote?> Metadata(HttpClient http, Uri url, string repoId, Uri endpoint, HubOptions options, CancellationToken cancellation)
    {
        string? commit = null, linkedEtag = null;
        long? linkedSize = null;
        for (int redirects = 0; ; redirects++)
        {
            if (redirects > 10) throw new IOException($"{url}: too many redirects");
            using var response = await Send(http, HttpMethod.Head, url, null, repoId, endpoint, options, cancellation).ConfigureAwait(false);
            // The hub's answer carries the commit and the LFS file's hash and size; a CDN it redirects to does not.
            commit ??= Header(response, "X-Repo-Commit");
            linkedEtag ??= Header(response, "X-Linked-Etag");
            linkedSize ??= long.TryParse(Header(response, "X-Linked-Size"), out var s) ? s : null;
            int code = (int)response.StatusCode;
            if (code is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                url = new Uri(url, location);
                continue;
            }
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return Header(response, "X-Error-Code") switch
                {
                    "RevisionNotFound" => throw new FileNotFoundException($"{repoId} has no revision '{options.Revision}' on {endpoint} (a branch, tag or commit)", url.ToString()),
                    "RepoNotFound" => throw new FileNotFoundException($"{repoId}: no such model on {endpoint}", url.ToString()),
                    _ => null,
                };
            }
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new UnauthorizedAccessException($"{url}: HTTP {code}: '{repoId}' is private, gated or does not exist; set HF_TOKEN to a token with access");
            if (!response.IsSuccessStatusCode) throw new IOException($"{url}: HTTP {code} {response.ReasonPhrase}");
            return new Remote(url, commit, linkedEtag ?? Unquote(response.Headers.ETag?.Tag), linkedSize ?? response.Content.Headers.ContentLength);
        }
    }

    private static async Task<HttpResponseMessage> Send(HttpClient http, HttpMethod method, Uri url, long? from, string repoId, Uri endpoint,
        HubOptions options, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(method, url);
        if (options.Token is not null && url.Host == endpoint.Host)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        if (from is long start) request.Headers.Range = new RangeHeaderValue(start, null);
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellation.IsCancellationRequested))
        {
            throw new IOException($"cannot download '{repoId}' from {endpoint} ({e.Message}): the network seems unreachable; " +
                $"use a built-in model ({string.Join(", ", BuiltInModels.Names)}) or a local directory, or set HF_ENDPOINT", e);
        }
    }

    private static async Task Fetch(HttpClient http, Remote remote, string target, string file, string repoId, Uri endpoint, HubOptions options,
        ILogger logger, CancellationToken cancellation)
    {
        var partial = target + ".incomplete";
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        long? size = remote.Size;
        if (have > 0 && have > size) have = 0;
        HttpResponseMessage? response = null;
        try
        {
            if (have == 0 || have != size)
            {
                response = await Send(http, HttpMethod.Get, remote.DownloadUrl, have > 0 ? have : null, repoId, endpoint, options, cancellation).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode) throw new IOException($"{remote.DownloadUrl}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
                // A server that ignores the Range sends the whole file (200): start again from its first byte.
                if (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != have) have = 0;
                size ??= response.Content.Headers.ContentRange?.Length ?? response.Content.Headers.ContentLength;
            }
            if (have > 0) LogResuming(logger, file, have, size);
            else LogDownloading(logger, file, remote.DownloadUrl, size);
            await Save(response, partial, have, size, file, remote, options.Progress, cancellation).ConfigureAwait(false);
        }
        finally
        {
            response?.Dispose();
        }
        File.Move(partial, target, overwrite: true);
    }

    // Appends the response's bytes to the partial file from byte `have` on, then checks the whole file's size and hash.
    private static async Task Save(HttpResponseMessage? response, string partial, long have, long? size, string file, Remote remote,
        IProgress<DownloadProgress>? progress, CancellationToken cancellation)
    {
        var etag = remote.Etag;
        bool sha256 = etag is not null && Sha256Hex().IsMatch(etag);
        bool gitSha1 = etag is not null && Sha1Hex().IsMatch(etag) && size is not null;
        using var hash = IncrementalHash.CreateHash(sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1);
        if (gitSha1) hash.AppendData(Encoding.ASCII.GetBytes($"blob {size}\0"));
        var buffer = new byte[1 << 16];
        long done = 0;
        await using (var output = new FileStream(partial, have > 0 ? FileMode.Open : FileMode.Create, FileAccess.ReadWrite, FileShare.None))
        {
            // The bytes an earlier attempt kept are part of the hash.
            for (int n; done < have && (n = await output.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, have - done)), cancellation).ConfigureAwait(false)) > 0;)
            {
                hash.AppendData(buffer, 0, n);
                done += n;
            }
            progress?.Report(new DownloadProgress(file, done, size));
            if (response is not null)
            {
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false);
                    for (int n; (n = await body.ReadAsync(buffer, cancellation).ConfigureAwait(false)) > 0;)
                    {
                        await output.WriteAsync(buffer.AsMemory(0, n), cancellation).ConfigureAwait(false);
                        hash.AppendData(buffer, 0, n);
                        done += n;
                        progress?.Report(new DownloadProgress(file, done, size));
                    }
                }
                catch (Exception e) when (e is IOException or HttpRequestException || (e is OperationCanceledException && !cancellation.IsCancellationRequested))
                {
                    throw new IOException($"{remote.DownloadUrl}: download interrupted after {done:N0} of {size?.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) ?? "?"} bytes " +
                        $"({e.Message}); the bytes that arrived are kept in {partial} and the next attempt continues from there", e);
                }
            }
            output.Flush(flushToDisk: true);
        }
        string? problem = size is not null && done != size ? $"download incomplete: got {done} bytes of {size}" : null;
        if (problem is null && (sha256 || gitSha1))
        {
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (!actual.Equals(etag, StringComparison.OrdinalIgnoreCase))
                problem = $"downloaded file fails verification: {(sha256 ? "sha256" : "git sha1")} is {actual}, the server says {etag}";
        }
        if (problem is not null)
        {
            // Bytes that do not make the file are no start for another attempt.
            File.Delete(partial);
            throw new InvalidDataException($"{remote.DownloadUrl}: {problem}");
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? Unquote(values.FirstOrDefault()) : null;

    private static string? Unquote(string? tag)
    {
        if (tag is null) return null;
        if (tag.StartsWith("W/", StringComparison.Ordinal)) tag = tag[2..];
        return tag.Trim('"');
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{RepoId} (revision {Revision}) found in the cache at {Snapshot}")]
    private static partial void LogCached(ILogger logger, string repoId, string revision, string snapshot);

    [LoggerMessage(Level = LogLevel.Information, Message = "downloading {File} from {Url} ({Size} bytes)")]
    private static partial void LogDownloading(ILogger logger, string file, Uri url, long? size);

    [LoggerMessage(Level = LogLevel.Information, Message = "resuming {File} at byte {Offset} of {Size}")]
    private static partial void LogResuming(ILogger logger, string file, long offset, long? size);

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9_.\-]+)?$")]
    private static partial Regex HubId();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex("^[0-9a-fA-F]{40}$")]
    private static partial Regex Sha1Hex();
}
