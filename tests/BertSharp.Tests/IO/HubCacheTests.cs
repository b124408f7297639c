using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;

namespace BertSharp.Tests.IO;

/// <summary>
/// Models already in Hugging Face's cache (as huggingface_hub leaves them: blobs named by hash, snapshot files linking to
/// them, refs/main naming the commit) load by name without network, exactly as their directory does; names that are
/// paths to nothing are reported as such.
/// </summary>
public sealed class HubCacheTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private static readonly string[] Texts = ["the film", "a good film", "bad films"];
    private readonly TempDir _home = new(), _model = new();

    public HubCacheTests() => TinyModel.Model().Save(_model.Path);

    public void Dispose()
    {
        _home.Dispose();
        _model.Dispose();
    }

    private string HubCacheFolder => Path.Combine(_home.Path, "hub");

    private void PlaceInCache(string repo, string commit, string directory)
    {
        var repoFolder = Path.Combine(HubCacheFolder, "models--" + repo.Replace("/", "--", StringComparison.Ordinal));
        var snapshot = Path.Combine(repoFolder, "snapshots", commit);
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repoFolder, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoFolder, "refs"));
        foreach (var file in Directory.GetFiles(directory))
        {
            var bytes = File.ReadAllBytes(file);
            var blob = Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.WriteAllBytes(Path.Combine(repoFolder, "blobs", blob), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", blob));
        }
        File.WriteAllText(Path.Combine(repoFolder, "refs", "main"), commit);
    }

    // A child process sees this cache and nothing else: no other cache variable, offline, a hub that is not there.
    private Dictionary<string, string> OfflineEnvironment() => new()
    {
        ["HF_HOME"] = _home.Path,
        ["HF_HUB_CACHE"] = "",
        ["BERTSHARP_CACHE"] = "",
        ["HF_HUB_OFFLINE"] = "1",
        ["HF_ENDPOINT"] = $"http://127.0.0.1:{HubDownloadTests.FreePort()}",
    };

    [Fact]
    public void AModelInHuggingFacesCacheLoadsOfflineByNameAndEmbedsAsItsDirectoryDoes()
    {
        PlaceInCache("org/tiny", Commit, _model.Path);
        var offline = new HubOptions { CacheDirectory = HubCacheFolder, Offline = true, Endpoint = $"http://127.0.0.1:{HubDownloadTests.FreePort()}" };

        var expected = SentenceEmbedder.Load(_model.Path).Embed(Texts);
        Assert.Equal(expected, SentenceEmbedder.Load("org/tiny", hub: offline).Embed(Texts));
        Assert.Equal(expected, SentenceEmbedder.Load("org/tiny", hub: offline with { Revision = Commit }).Embed(Texts));
        Assert.Equal("org/tiny", PretrainedModel.Load("org/tiny", offline).Source);
    }

    [Fact]
    public void TheCliFindsTheCachedModelThroughHfHomeOfflineByNameAndByRevision()
    {
        PlaceInCache("org/tiny", Commit, _model.Path);
        var direct = CliRunner.Run(["embed", "--model", _model.Path, "--json", .. Texts]);
        Assert.Equal(0, direct.ExitCode);
        var expected = JsonNode.Parse(direct.Stdout)!["embeddings"]!.ToJsonString();

        foreach (string[] model in (string[][])[["--model", "org/tiny"], ["--model", "org/tiny", "--revision", Commit], ["--model", "org/tiny", "--revision", "main"]])
        {
            var cached = CliRunner.RunWithEnvironment(OfflineEnvironment(), ["embed", .. model, "--json", .. Texts]);
            Assert.True(cached.ExitCode == 0, cached.Stderr);
            Assert.Equal(expected, JsonNode.Parse(cached.Stdout)!["embeddings"]!.ToJsonString());
        }
    }

    [Fact]
    public void OfflineAModelNotInTheCacheIsOneLineNamingItAndNoRequestIsMade()
    {
        using var hub = new HubDownloadTests.LocalHub("org/tiny", new() { ["main"] = (Commit, _model.Path) });
        var environment = OfflineEnvironment();
        environment["HF_ENDPOINT"] = hub.Endpoint;
        var r = CliRunner.RunWithEnvironment(environment, "embed", "--model", "org/tiny", "the film");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'org/tiny'", r.Stderr);
        Assert.Contains("HF_HUB_OFFLINE", r.Stderr);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(hub.Requests);
        Assert.False(Directory.Exists(HubCacheFolder));
    }

    [Fact]
    public void AMistypedLocalPathIsNoSuchDirectoryNotAHubFailure()
    {
        foreach (var path in new[] { "./out/polarty", Path.Combine(_home.Path, "polarty"), "/tmp/x-" + Guid.NewGuid().ToString("N") })
        {
            var r = CliRunner.RunWithEnvironment(OfflineEnvironment(), "predict", "--model", path, "a film");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains($"{path}: no such directory", r.Stderr);
            Assert.DoesNotContain("HF_HUB_OFFLINE", r.Stderr);
        }
        // A name whose first part is a folder here is a path too, though it looks like org/name.
        var local = "bertsharp-test-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(local);
        try
        {
            var e = Assert.Throws<DirectoryNotFoundException>(() => PretrainedModel.Load(local + "/polarty", new HubOptions { CacheDirectory = HubCacheFolder }));
            Assert.Contains($"{local}/polarty: no such directory", e.Message);
            Assert.Contains("has no 'polarty'", e.Message);
        }
        finally
        {
            Directory.Delete(local);
        }
        Assert.False(Directory.Exists(HubCacheFolder));
    }

    [Fact]
    public void DefaultCacheFollowsHuggingFacesVariables()
    {
        var r = CliRunner.RunWithEnvironment(new Dictionary<string, string>
        {
            ["HF_HOME"] = _home.Path,
            ["HF_HUB_CACHE"] = "",
            ["BERTSHARP_CACHE"] = "",
            ["HF_HUB_OFFLINE"] = "yes",
        }, "embed", "--model", "org/absent", "x");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"cache ({HubCacheFolder})", r.Stderr);

        r = CliRunner.RunWithEnvironment(new Dictionary<string, string>
        {
            ["HF_HOME"] = _home.Path,
            ["HF_HUB_CACHE"] = _model.Path,
            ["BERTSHARP_CACHE"] = "",
            ["HF_HUB_OFFLINE"] = "1",
        }, "embed", "--model", "org/absent", "x");
        Assert.Contains($"cache ({_model.Path})", r.Stderr);
    }
}
