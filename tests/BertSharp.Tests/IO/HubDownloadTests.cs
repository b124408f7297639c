using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using BertSharp.IO;

namespace BertSharp.Tests.IO;

/// <summary>
/// Downloads from a hub served on 127.0.0.1 the way huggingface.co answers: every resolve answer names its commit
/// (X-Repo-Commit), small files carry their git blob sha1 as ETag, LFS files are a redirect carrying X-Linked-Etag
/// (sha256) and X-Linked-Size, a 404 says what was not found (X-Error-Code), and Range requests get 206.
/// </summary>
public sealed class HubDownloadTests : IDisposable
{
    private const string MainCommit = "1111111111111111111111111111111111111111", TagCommit = "2222222222222222222222222222222222222222";
    private readonly TempDir _files = new(), _tagFiles = new(), _cache = new();
    private readonly PretrainedModel _model = TinyModel.Model(labels: 2);

    public HubDownloadTests()
    {
        _model.Save(_files.Path);
        // The tag v1 is another commit: a three-label model.
        TinyModel.Model(labels: 3).Save(_tagFiles.Path);
    }

    public void Dispose()
    {
        _files.Dispose();
        _tagFiles.Dispose();
        _cache.Dispose();
    }

    internal sealed class LocalHub : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private readonly Func<byte[], string> _etag, _linkedEtag;
        private readonly string _repo;
        private readonly Dictionary<string, (string Commit, string Directory)> _revisions;
        private int _cutsLeft;

        /// <summary>Method, path and Range header of every request, in order.</summary>
        public readonly List<(string Method, string Path, string? Range)> Requests = [];

        public LocalHub(string repo, Dictionary<string, (string Commit, string Directory)> revisions, Func<byte[], string>? linkedEtag = null,
            Func<byte[], string>? etag = null, int cuts = 0)
        {
            _repo = repo;
            _revisions = revisions;
            _etag = etag ?? GitBlobSha1;
            _linkedEtag = linkedEtag ?? Sha256;
            _cutsLeft = cuts;
            Port = FreePort();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _loop = Task.Run(Serve);
        }

        public int Port { get; }
        public string Endpoint => $"http://127.0.0.1:{Port}";

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                try { await Answer(context); }
                catch (HttpListenerException) { }
            }
        }

        private async Task Answer(HttpListenerContext context)
        {
            var request = context.Request;
            var response = context.Response;
            var path = request.Url!.AbsolutePath;
            lock (Requests) Requests.Add((request.HttpMethod, path, request.Headers["Range"]));
            // /{org}/{name}/resolve/{revision}/{file} from the hub, /cdn/{commit}/{file} from its file store.
            var parts = path.Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
            string? file = null, commit = null;
            bool cdn = parts is ["cdn", _, _];
            if (cdn)
            {
                commit = parts[1];
                file = _revisions.Values.FirstOrDefault(r => r.Commit == commit).Directory is { } d ? Path.Combine(d, parts[2]) : null;
            }
            else if (parts.Length == 5 && parts[2] == "resolve")
            {
                if ($"{parts[0]}/{parts[1]}" != _repo) { NotFound(response, "RepoNotFound"); return; }
                var revision = _revisions.TryGetValue(parts[3], out var r) ? r : _revisions.Values.FirstOrDefault(v => v.Commit == parts[3]);
                if (revision.Commit is null) { NotFound(response, "RevisionNotFound"); return; }
                commit = revision.Commit;
                file = Path.Combine(revision.Directory, parts[4]);
                response.Headers["X-Repo-Commit"] = commit;
            }
            if (file is null || !File.Exists(file)) { NotFound(response, "EntryNotFound"); return; }

            var bytes = await File.ReadAllBytesAsync(file);
            if (!cdn && file.EndsWith(".safetensors", StringComparison.Ordinal))
            {
                response.StatusCode = 302;
                response.Headers["Location"] = $"/cdn/{commit}/{Path.GetFileName(file)}";
                response.Headers["X-Linked-Etag"] = $"\"{_linkedEtag(bytes)}\"";
                response.Headers["X-Linked-Size"] = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
                response.Close();
                return;
            }
            if (!cdn) response.Headers["ETag"] = $"\"{_etag(bytes)}\"";
            int from = 0;
            if (request.Headers["Range"] is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            {
                from = int.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
            }
            response.ContentLength64 = bytes.Length - from;
            if (request.HttpMethod == "HEAD") { response.Close(); return; }
            if (cdn && Interlocked.Decrement(ref _cutsLeft) >= 0)
            {
                // The connection drops a third of the way into the file, as a flaky network does.
                await response.OutputStream.WriteAsync(bytes.AsMemory(from, bytes.Length / 3));
                await response.OutputStream.FlushAsync();
                response.Abort();
                return;
            }
            await response.OutputStream.WriteAsync(bytes.AsMemory(from));
            response.Close();
        }

        private static void NotFound(HttpListenerResponse response, string code)
        {
            response.StatusCode = 404;
            response.Headers["X-Error-Code"] = code;
            response.Close();
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    private LocalHub Hub(Func<byte[], string>? linkedEtag = null, Func<byte[], string>? etag = null, int cuts = 0) =>
        new("org/tiny", new() { ["main"] = (MainCommit, _files.Path), ["v1"] = (TagCommit, _tagFiles.Path) }, linkedEtag, etag, cuts);

    // What git (and so the hub) names a small file by.
    private static string GitBlobSha1(byte[] bytes) => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"), .. bytes]));

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    internal static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private HubOptions Options(string endpoint, string revision = "main") =>
        new() { Endpoint = endpoint, CacheDirectory = _cache.Path, Token = null, Revision = revision, Offline = false };

    private string Snapshot(string commit) => Path.Combine(_cache.Path, "models--org--tiny", "snapshots", commit);

    [Fact]
    public void DownloadsIntoHuggingFacesLayoutVerifiesAndThenLoadsFromTheCacheWithoutNetwork()
    {
        string endpoint;
        using (var hub = Hub())
        {
            endpoint = hub.Endpoint;
            var loaded = PretrainedModel.Load("org/tiny", Options(endpoint));
            Assert.Equal("org/tiny", loaded.Source);
            Assert.Equal(_model.Weights["classifier.weight"].Data, loaded.Weights["classifier.weight"].Data);
            Assert.Equal(_model.Weights["bert.encoder.layer.1.output.dense.weight"].Data, loaded.Weights["bert.encoder.layer.1.output.dense.weight"].Data);
            Assert.Contains(hub.Requests, r => r is ("GET", $"/cdn/{MainCommit}/model.safetensors", null));
        }
        // huggingface_hub's layout: the commit's files under snapshots/, refs/main naming the commit.
        Assert.Equal(File.ReadAllBytes(Path.Combine(_files.Path, "model.safetensors")), File.ReadAllBytes(Path.Combine(Snapshot(MainCommit), "model.safetensors")));
        Assert.Equal(MainCommit, File.ReadAllText(Path.Combine(_cache.Path, "models--org--tiny", "refs", "main")));
        // The server is gone: the cached copy must do.
        var again = PretrainedModel.Load("org/tiny", Options(endpoint));
        Assert.Equal(_model.Config.Id2Label, again.Config.Id2Label);
        Assert.Empty(Directory.GetFiles(_cache.Path, "*.incomplete", SearchOption.AllDirectories));
    }

    [Fact]
    public void ACutDownloadKeepsWhatArrivedAndTheNextAttemptAsksForTheRestOnly()
    {
        using var hub = Hub(cuts: 1);
        var weights = File.ReadAllBytes(Path.Combine(_files.Path, "model.safetensors"));
        var e = Assert.Throws<IOException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("interrupted", e.Message);
        var partial = Path.Combine(Snapshot(MainCommit), "model.safetensors.incomplete");
        Assert.Equal(weights.Length / 3, new FileInfo(partial).Length);
        Assert.False(File.Exists(Path.Combine(Snapshot(MainCommit), "model.safetensors")));

        var loaded = PretrainedModel.Load("org/tiny", Options(hub.Endpoint));
        Assert.Equal(_model.Weights["classifier.weight"].Data, loaded.Weights["classifier.weight"].Data);
        // The second GET of the weights asked for the bytes after the third that had arrived.
        var gets = hub.Requests.Where(r => r is ("GET", $"/cdn/{MainCommit}/model.safetensors", _)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Equal($"bytes={weights.Length / 3}-", gets[1].Range);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(Snapshot(MainCommit), "model.safetensors")));
        Assert.False(File.Exists(partial));
    }

    [Fact]
    public void ARevisionResolvesToItsCommitsSnapshotAndACommitNeedsNoRef()
    {
        using var hub = Hub();
        var tagged = PretrainedModel.Load("org/tiny", Options(hub.Endpoint, "v1"));
        Assert.Equal(3, tagged.Config.Id2Label!.Count);
        Assert.Equal(TagCommit, File.ReadAllText(Path.Combine(_cache.Path, "models--org--tiny", "refs", "v1")));
        Assert.True(File.Exists(Path.Combine(Snapshot(TagCommit), "model.safetensors")));
        // After the first file, every file was asked for by the commit the hub named, so all come from one commit.
        Assert.All(hub.Requests.Where(r => r.Path.Contains("/resolve/", StringComparison.Ordinal)).Skip(1),
            r => Assert.Contains($"/resolve/{TagCommit}/", r.Path, StringComparison.Ordinal));

        var byCommit = PretrainedModel.Load("org/tiny", Options(hub.Endpoint, MainCommit));
        Assert.Equal(2, byCommit.Config.Id2Label!.Count);
        Assert.True(File.Exists(Path.Combine(Snapshot(MainCommit), "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(_cache.Path, "models--org--tiny", "refs", MainCommit)));
        Assert.False(File.Exists(Path.Combine(_cache.Path, "models--org--tiny", "refs", "main")));
    }

    [Fact]
    public void FileThatFailsItsChecksumIsRejectedAndNotCached()
    {
        using var hub = Hub(linkedEtag: _ => new string('0', 64));
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("sha256", e.Message);
        Assert.Contains("model.safetensors", e.Message);
        // Bytes that fail the hash are no start for a resumed download either.
        Assert.Empty(Directory.GetFiles(_cache.Path, "model.safetensors*", SearchOption.AllDirectories));
    }

    [Fact]
    public void SmallFileThatFailsItsGitSha1IsRejected()
    {
        using var hub = Hub(etag: _ => new string('a', 40));
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("git sha1", e.Message);
        Assert.Empty(Directory.GetFiles(_cache.Path, "config.json*", SearchOption.AllDirectories));
    }

    [Fact]
    public void OfflineSaysSoAndNamesTheModel()
    {
        var e = Assert.Throws<IOException>(() => PretrainedModel.Load("bert-base-uncased", Options($"http://127.0.0.1:{FreePort()}")));
        Assert.Contains("'bert-base-uncased'", e.Message);
        Assert.Contains("network", e.Message);
        Assert.Contains("minilm-l6", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.Path));
    }

    [Theory]
    [InlineData("org/other", "main", "org/other: no such model")]
    [InlineData("org/tiny", "v9", "org/tiny has no revision 'v9'")]
    public void A404IsANamedErrorAndLeavesNoEmptyFoldersInTheCache(string repo, string revision, string message)
    {
        using var hub = Hub();
        var e = Assert.Throws<FileNotFoundException>(() => PretrainedModel.Load(repo, Options(hub.Endpoint, revision)));
        Assert.Contains(message, e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.Path));
    }

    [Fact]
    public void AModelWithoutAFileIsANamedNotFoundAndLeavesNoEmptyFolders()
    {
        File.Delete(Path.Combine(_files.Path, "vocab.txt"));
        using var hub = Hub();
        var e = Assert.Throws<FileNotFoundException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint)));
        Assert.Contains("org/tiny has no vocab.txt", e.Message);
        // config.json arrived before the missing file was found; that snapshot is kept, nothing is left empty.
        Assert.DoesNotContain(Directory.GetDirectories(_cache.Path, "*", SearchOption.AllDirectories), d => !Directory.EnumerateFileSystemEntries(d).Any());
    }

    [Fact]
    public void OfflineModeSendsNoRequestAndSaysTheModelIsNotCached()
    {
        using var hub = Hub();
        var e = Assert.Throws<IOException>(() => PretrainedModel.Load("org/tiny", Options(hub.Endpoint) with { Offline = true }));
        Assert.Contains("'org/tiny'", e.Message);
        Assert.Contains("HF_HUB_OFFLINE", e.Message);
        Assert.Empty(hub.Requests);
        Assert.Empty(Directory.GetFileSystemEntries(_cache.Path));
    }

    [Fact]
    public async Task LoadAsyncDownloadsReportsProgressAndStopsWhenCancelled()
    {
        using var hub = Hub();
        var progress = new List<DownloadProgress>();
        var options = Options(hub.Endpoint) with { Progress = new SyncProgress<DownloadProgress>(progress.Add) };
        using (var cancelled = new CancellationTokenSource())
        {
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => PretrainedModel.LoadAsync("org/tiny", options, cancelled.Token));
        }
        var loaded = await PretrainedModel.LoadAsync("org/tiny", options);
        Assert.Equal(_model.Weights["classifier.weight"].Data, loaded.Weights["classifier.weight"].Data);
        long size = new FileInfo(Path.Combine(_files.Path, "model.safetensors")).Length;
        var weights = progress.Where(p => p.File == "model.safetensors").ToList();
        Assert.Equal(new DownloadProgress("model.safetensors", size, size), weights[^1]);
        Assert.True(weights.Zip(weights.Skip(1)).All(p => p.First.BytesDone <= p.Second.BytesDone));
    }

    [Fact]
    public void EndpointAndCacheComeFromTheEnvironment()
    {
        using var hub = Hub();
        var saved = (Environment.GetEnvironmentVariable("HF_ENDPOINT"), Environment.GetEnvironmentVariable("BERTSHARP_CACHE"));
        try
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", hub.Endpoint);
            Environment.SetEnvironmentVariable("BERTSHARP_CACHE", _cache.Path);
            PretrainedModel.Load("org/tiny");
            Assert.True(File.Exists(Path.Combine(Snapshot(MainCommit), "model.safetensors")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("HF_ENDPOINT", saved.Item1);
            Environment.SetEnvironmentVariable("BERTSHARP_CACHE", saved.Item2);
        }
    }

    /// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
