using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace BertSharp.IO;

/// <summary>
/// Downloads a model's files from a Hugging Face hub into the cache and verifies them: the size,
/// the sha256 that the hub sends as <c>X-Linked-ETag</c> for LFS files, and the git blob sha1 it
/// sends as <c>ETag</c> for small files. Files land under a temporary name and are renamed when
/// verified, so an interrupted download never looks complete. Cached files are used without network.
/// </summary>
internal static partial class HubDownloader
{
    private static readonly string[] Required = [HfDirectory.ConfigFile, HfDirectory.VocabFile, HfDirectory.WeightsFile];

    public static bool IsHubId(string name) => HubId().IsMatch(name);

    /// <summary>Returns the local directory holding the model's files, downloading what is missing.</summary>
    public static string Download(string repoId, HubOptions options)
    {
        if (!IsHubId(repoId)) throw new ArgumentException($"'{repoId}' is not a hub model id (name or organisation/name)");
        var directory = Path.Combine(options.CacheDirectory, "models--" + repoId.Replace("/", "--", StringComparison.Ordinal),
            options.Revision.Replace("/", "--", StringComparison.Ordinal));
        if (Required.All(f => File.Exists(Path.Combine(directory, f)))) return directory;
        Directory.CreateDirectory(directory);

        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(20) })
        {
            Timeout = options.Timeout,
        };
        var endpoint = new Uri(options.Endpoint.TrimEnd('/') + "/");
        // Optional files first and the weights last: the weights' presence marks a complete download.
        foreach (var (file, required) in new[] { (HfDirectory.TokenizerConfigFile, false), (HfDirectory.ConfigFile, true), (HfDirectory.VocabFile, true), (HfDirectory.WeightsFile, true) })
        {
            var target = Path.Combine(directory, file);
            if (File.Exists(target)) continue;
            var url = new Uri(endpoint, $"{repoId}/resolve/{Uri.EscapeDataString(options.Revision)}/{file}");
            if (!Fetch(http, url, target, repoId, endpoint, options) && required)
                throw new FileNotFoundException(file == HfDirectory.WeightsFile
                    ? $"{repoId} has no {file} on {endpoint} (revision {options.Revision}); BertSharp reads safetensors weights only"
                    : $"{repoId} has no {file} on {endpoint} (revision {options.Revision}); is it a BERT model?", url.ToString());
        }
        return directory;
    }

    // Returns false on 404.
    private static bool Fetch(HttpClient http, Uri url, string target, string repoId, Uri endpoint, HubOptions options)
    {
        string? linkedEtag = null;
        long? linkedSize = null;
        for (int redirects = 0; ; redirects++)
        {
            if (redirects > 10) throw new IOException($"{url}: too many redirects");
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (options.Token is not null && url.Host == endpoint.Host)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            HttpResponseMessage response;
            try { response = http.Send(request, HttpCompletionOption.ResponseHeadersRead); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                throw new IOException($"cannot download '{repoId}' from {endpoint} ({e.Message}): the network seems unreachable; " +
                    $"use a built-in model ({string.Join(", ", BuiltInModels.Names)}) or a local directory, or set HF_ENDPOINT", e);
            }
            using (response)
            {
                linkedEtag ??= Header(response, "X-Linked-Etag");
                linkedSize ??= long.TryParse(Header(response, "X-Linked-Size"), out var s) ? s : null;
                int code = (int)response.StatusCode;
                if (code is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    url = new Uri(url, location);
                    continue;
                }
                if (response.StatusCode == HttpStatusCode.NotFound) return false;
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    throw new UnauthorizedAccessException($"{url}: HTTP {code}: '{repoId}' is private, gated or does not exist; set HF_TOKEN to a token with access");
                if (!response.IsSuccessStatusCode) throw new IOException($"{url}: HTTP {code} {response.ReasonPhrase}");

                var etag = linkedEtag ?? Unquote(response.Headers.ETag?.Tag);
                long? size = linkedSize ?? response.Content.Headers.ContentLength;
                Save(response, target, url, etag, size);
                return true;
            }
        }
    }

    private static void Save(HttpResponseMessage response, string target, Uri url, string? etag, long? size)
    {
        bool sha256 = etag is not null && Sha256Hex().IsMatch(etag);
        bool gitSha1 = etag is not null && Sha1Hex().IsMatch(etag) && size is not null;
        using var hash = IncrementalHash.CreateHash(sha256 ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1);
        if (gitSha1) hash.AppendData(Encoding.ASCII.GetBytes($"blob {size}\0"));
        long written = 0;
        try
        {
            AtomicFile.Write(target, file =>
            {
                using var body = response.Content.ReadAsStream();
                var buffer = new byte[1 << 16];
                for (int n; (n = body.Read(buffer)) > 0;)
                {
                    file.Write(buffer, 0, n);
                    hash.AppendData(buffer, 0, n);
                    written += n;
                }
                if (size is not null && written != size)
                    throw new IOException($"{url}: download incomplete: got {written} bytes of {size}");
                if (sha256 || gitSha1)
                {
                    var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                    if (!actual.Equals(etag, StringComparison.OrdinalIgnoreCase))
                        throw new InvalidDataException($"{url}: downloaded file fails verification: {(sha256 ? "sha256" : "git sha1")} is {actual}, the server says {etag}");
                }
            });
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            throw new IOException($"{url}: download interrupted ({e.Message})", e);
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

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9_.\-]+)?$")]
    private static partial Regex HubId();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex("^[0-9a-fA-F]{40}$")]
    private static partial Regex Sha1Hex();
}
