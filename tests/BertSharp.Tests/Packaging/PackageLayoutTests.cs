using System.Text.Json;
using BertSharp.Text;

namespace BertSharp.Tests.Packaging;

/// <summary>
/// Issue 17's split, held where it is cheap to check: the core package (and the server built on it) reaches none of
/// the heavy dependencies that moved to add-on packages. The truth is the build's own dependency graph, the test
/// assembly's deps.json, which lists every package a project brings in, directly or through others.
/// </summary>
public class PackageLayoutTests
{
    private static readonly string[] Heavy = ["Microsoft.ML", "ScottPlot", "SkiaSharp", "HarfBuzzSharp", "SentenceTransformers"];

    // Each with one library it does reach, so an unread graph cannot pass.
    [Theory]
    [InlineData("BertSharp", "OnnxSharp/")]
    [InlineData("BertSharp.Server", "BertSharp/")]
    public void CorePackagesReachNoOnnxRuntimeNoPlottingAndNoModel(string project, string reachable)
    {
        var reached = Closure($"{project}/1.0.0");
        Assert.Contains(reached, d => d.StartsWith(reachable, StringComparison.Ordinal));
        Assert.DoesNotContain(reached, d => Heavy.Any(h => d.StartsWith(h, StringComparison.OrdinalIgnoreCase)));
    }

    [Fact]
    public void AddOnsBringWhatTheCoreLeftOut()
    {
        Assert.Contains(Closure("BertSharp.OnnxRuntime/1.0.0"), d => d.StartsWith("Microsoft.ML.OnnxRuntime/", StringComparison.Ordinal));
        Assert.Contains(Closure("BertSharp.Plots/1.0.0"), d => d.StartsWith("ScottPlot/", StringComparison.Ordinal));
    }

    [Fact]
    public void CoreAssemblyReferencesNoneOfTheMovedAssemblies()
    {
        var references = typeof(BertTokenizer).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("OnnxSharp", references);
        Assert.DoesNotContain(references, r => Heavy.Any(h => r.StartsWith(h, StringComparison.OrdinalIgnoreCase)));
    }

    // Every library the given one reaches through "dependencies" in the deps.json's runtime target.
    private static HashSet<string> Closure(string library)
    {
        using var deps = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "BertSharp.Tests.deps.json")));
        var target = deps.RootElement.GetProperty("targets").EnumerateObject().First().Value;
        var byName = target.EnumerateObject().ToDictionary(p => p.Name[..p.Name.IndexOf('/')], p => p.Name);
        var seen = new HashSet<string>();
        var queue = new Queue<string>([library]);
        while (queue.TryDequeue(out var next))
        {
            if (!seen.Add(next) || !target.TryGetProperty(next, out var entry) || !entry.TryGetProperty("dependencies", out var children)) continue;
            foreach (var child in children.EnumerateObject()) queue.Enqueue(byName[child.Name]);
        }
        seen.Remove(library);
        return seen;
    }
}
