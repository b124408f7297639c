using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using BertSharp.IO;

namespace BertSharp.Tests.IO;

/// <summary>
/// Downloads from a hub served on 127.0.0.1 the way huggingface.co answers: small files with their
/// git blob sha1 as ETag, LFS files as a redirect carrying X-Linked-Etag (sha256) and X-Linked-Size.
/// </summary>
public sealed class HubDownloadTests : IDisposable
{
    private readonly TempDir _files = new(), _cache = new();
    private readonly PretrainedModel _model = TinyModel.Model(labels: 2);

    public HubDownloadTests() => _model.Save(_files.Path);

    public void Dispose()
    {
        _files.Dispose();
        _cache.Dispose();
    }

    private sealed class LocalHub : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly Func<byte[], string> _etag;
        public readonly List<string> Requests = [];

        public LocalHub(string directory, string repo, Func<byte[], string>? linkedEtag = null, Func<byte[], string>? etag = null)
        {
            _etag = etag ?? GitBlobSha1;
            Port = FreePort();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _loop = Task.Run(() => Serve(directory, repo, linkedEtag ?? Sha256));
        }

        public int Port { get; }
        public string Endpoint => $"http://127.0.0.1:{Port}";

        private async Task Serve(string directory, string repo, Func<byte[], string> linkedEtag)
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                var path = context.Request.Url!.AbsolutePath;
                lock (Requests) Requests.Add(path);
                var response = context.Response;
                var prefix = $"/{repo}/resolve/main/";
                var file = path.StartsWith(prefix, StringComparison.Ordinal) ? Path.Combine(directory, path[prefix.Length..])
                    : path.StartsWith("/cdn/", StringComparison.Ordinal) ? Path.Combine(directory, path["/cdn/".Length..]) : null;
                if (file is null || !File.Exists(file))
                {
                    response.StatusCode = 404;
                    response.Close();
                    continue;
                }
                var bytes = await File.ReadAllBytesAsync(file);
                if (path.StartsWith(prefix, StringComparison.Ordinal) && file.EndsWith(".safetensors", StringComparison.Ordinal))
                {
                    response.StatusCode = 302;
                    response.Headers["Location"] = "/cdn/" + Path.GetFileName(file);
                    response.Headers["X-Linked-Etag"] = $"\"{linkedEtag(bytes)}\"";
                    response.Headers["X-Linked-Size"] = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    response.Close();
                    continue;
                }
                if (!path.StartsWith("/cdn/", StringComparison.Ordinal))
                    response.Headers["ETag"] = $"\"{_etag(bytes)}\"";
                response.ContentLength64 = bytes.Length;
                await response.OutputStream.WriteAsync(bytes);
                response.Close();
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    // What git (and so the hub) names a small file by.
    private static string GitBlobSha1(byte[] bytes) => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private HubOptions Options(string endpoint) => new() { Endpoint = endpoint, CacheDirectory = _cache.Path, Token = null };

    [Fact]
    public void DownloadsVerifiesAndThenLoadsFromTheCacheWithoutNetwork()
    {
        string endpoint;
        using (var hub = new LocalHub(_files.Path, "org/tiny"))
        {
            endpoint = hub.Endpoint;
            var loaded = PretrainedModel.Load("org/tiny", Options(endpoint));
            Assert.Equal("org/tiny", loaded.Source);
            Assert.Equal(_model.Weights["classifier.weight"].Data, loaded.Weights["classifier.weight"].Data);
            Assert.Equal(_model.Weights["bert.encoder.layer.1.output.dense.weight"].Data, loaded.Weights["bert.encoder.layer.1.output.dense.weight"].Data);
            Assert.Contains("/cdn/model.safetensors", hub.Requests);
        }
        // The server is gone: the cached copy must do.
        var again = PretrainedModel.Load("org/tiny", Options(endpoint));
        Assert.Equal(_model.Config.Id2Label, again.Config.Id2Label);
        Assert.Empty(Directory.GetFiles(_cache.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void FileThatFailsItsChecksumIsRejectedAndNotCached()
    {
        using var hub = new LocalHub(_files.Path, "org/tiny", linkedEtag: _ => new string('0', 64));
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("sha256", e.Message);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Empty(Directory.GetFiles(_cache.Path, "model.safetensors*", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_cache.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void SmallFileThatFailsItsGitSha1IsRejected()
    {
        using var hub = new LocalHub(_files.Path, "org/tiny", etag: _ => new string('a', 40));
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("git sha1", e.Message);
        Assert.Empty(Directory.GetFiles(_cache.Path, "config.json", SearchOption.AllDirectories));
    }

    [Fact]
    public void OfflineSaysSoAndNamesTheModel()
    {
        var e = Assert.Throws<IOException>(() => PretrainedModel.Load("bert-base-uncased", Options($"http://127.0.0.1:{FreePort()}")));
        Assert.Contains("'bert-base-uncased'", e.Message);
        Assert.Contains("network", e.Message);
        Assert.Contains("minilm-l6", e.Message);
    }

    [Fact]
    public void UnknownModelIsANamedNotFound()
    {
        using var hub = new LocalHub(_files.Path, "org/tiny");
        var e = Assert.Throws<FileNotFoundException>(() => PretrainedModel.Load("org/other", Options(hub.Endpoint)));
        Assert.Contains("org/other", e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void EndpointAndCacheComeFromTheEnvironment()
    {
        using var hub = new LocalHub(_files.Path, "org/tiny");
        var saved = (Environment.GetEnvironmentVariable("HF_ENDPOINT"), Environment.GetEnvironmentVariable("BERTSHARP_CACHE"));
        try
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
            Environment.SetEnvironmentVariable("BERTSHARP_CACHE", _cache.Path);
            PretrainedModel.Load("org/tiny");
            Assert.True(File.Exists(Path.Combine(_cache.Path, "models--org--tiny", "main", "model.safetensors")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", saved.Item1);
            Environment.SetEnvironmentVariable("BERTSHARP_CACHE", saved.Item2);
        }
    }
}
