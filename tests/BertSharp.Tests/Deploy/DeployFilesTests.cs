using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;

namespace BertSharp.Tests.Deploy;

/// <summary>
/// The Dockerfile and the Kubernetes manifests in deploy/, checked without Docker or a cluster (neither
/// runs here): the manifests against the official Kubernetes client's typed models, the Dockerfile by
/// parsing it, and both against the repository and the real <c>bertsharp serve</c> options.
/// </summary>
public sealed partial class DeployFilesTests
{
    private static readonly string Repo = FindRepo();

    private static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "BertSharp.slnx"))) return d.FullName;
        throw new DirectoryNotFoundException("the repository root (BertSharp.slnx) is not above the test binaries");
    }

    private static string Read(params string[] parts) => File.ReadAllText(Path.Combine([Repo, .. parts]));

    private static T Load<T>(string file)
    {
        var text = Read("deploy", file);
        var objects = KubernetesYaml.LoadAllFromString(text);
        var only = Assert.Single(objects);
        AssertNothingDropped(text, only, file);
        return Assert.IsType<T>(only);
    }

    /// <summary>
    /// The typed models silently drop a field they do not know (a typo such as "replicaz", a field at
    /// the wrong level): every field of the file must come back when the typed object is written out.
    /// </summary>
    private static void AssertNothingDropped(string yaml, object typed, string file)
    {
        var raw = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<object>(yaml);
        var original = JsonSerializer.SerializeToNode(Normalize(raw))!;
        var roundTrip = JsonNode.Parse(KubernetesJson.Serialize(typed))!;
        Compare(original, roundTrip, file);
    }

    private static object? Normalize(object? node) => node switch
    {
        IDictionary<object, object> map => map.ToDictionary(p => (string)p.Key, p => Normalize(p.Value)),
        IList<object> list => list.Select(Normalize).ToList(),
        _ => node,
    };

    private static void Compare(JsonNode want, JsonNode? got, string path)
    {
        Assert.True(got is not null, $"{path}: not a field the Kubernetes API knows (dropped by its typed model)");
        switch (want)
        {
            case JsonObject o:
                foreach (var (key, value) in o) Compare(value!, got![key], $"{path}.{key}");
                break;
            case JsonArray a:
                var other = Assert.IsType<JsonArray>(got);
                Assert.Equal(a.Count, other.Count);
                for (int i = 0; i < a.Count; i++) Compare(a[i]!, other[i], $"{path}[{i}]");
                break;
            default:
                // YAML scalars are read as text; the typed side may write 2 or true: compare as text.
                Assert.True(want.ToString() == got!.ToString(), $"{path}: '{want}' came back as '{got}'");
                break;
        }
    }

    private static string ServeHelp()
    {
        var help = CliRunner.Run("serve", "--help");
        Assert.Equal(0, help.ExitCode);
        return help.Stdout;
    }

    private static void AssertServeAccepts(IEnumerable<string> args, string help, string where)
    {
        foreach (var option in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
            Assert.True(help.Contains(option + " ", StringComparison.Ordinal), $"{where}: 'bertsharp serve' has no option {option}");
    }

    private static int Port(IList<string> args) => int.Parse(UrlPort().Match(args[args.IndexOf("--urls") + 1]).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    [GeneratedRegex(@":(\d+)$")]
    private static partial Regex UrlPort();

    /// <summary>Dockerfile instructions: comments dropped, continued lines joined.</summary>
    private static List<(string Keyword, string Arguments)> Instructions()
    {
        var joined = Regex.Replace(string.Join('\n', Read("Dockerfile").Split('\n').Where(l => !l.TrimStart().StartsWith('#'))), @"\\\n", " ");
        return [.. joined.Split('\n').Where(l => l.Trim().Length > 0).Select(l =>
        {
            var t = l.Trim();
            int space = t.IndexOf(' ');
            return (t[..space].ToUpperInvariant(), t[(space + 1)..].Trim());
        })];
    }

    [Fact]
    public void Manifests_are_valid_Kubernetes_objects_that_fit_together()
    {
        var deployment = Load<V1Deployment>("deployment.yaml");
        var service = Load<V1Service>("service.yaml");
        var hpa = Load<V2HorizontalPodAutoscaler>("hpa.yaml");

        var labels = deployment.Spec.Template.Metadata.Labels;
        Assert.All(deployment.Spec.Selector.MatchLabels, l => Assert.Equal(l.Value, labels[l.Key]));
        Assert.All(service.Spec.Selector, l => Assert.Equal(l.Value, labels[l.Key]));
        Assert.Equal(("Deployment", deployment.Metadata.Name), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        Assert.Equal("cpu", Assert.Single(hpa.Spec.Metrics).Resource.Name);

        var container = Assert.Single(deployment.Spec.Template.Spec.Containers);
        // The HPA's CPU utilization is a share of the request, so there must be one.
        Assert.True(container.Resources.Requests.ContainsKey("cpu") && container.Resources.Requests.ContainsKey("memory"));
        Assert.Equal("/health/ready", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/health/ready", container.StartupProbe.HttpGet.Path);
        Assert.Equal("/health/live", container.LivenessProbe.HttpGet.Path);
        var port = Assert.Single(container.Ports);
        Assert.Equal(Port(container.Args), port.ContainerPort);
        Assert.Equal(port.Name, service.Spec.Ports.Single().TargetPort.Value);
        Assert.Equal(port.Name, container.ReadinessProbe.HttpGet.Port.Value);
        AssertServeAccepts(container.Args, ServeHelp(), "deployment.yaml");

        // Kubernetes kills the pod after the grace period: the drain and the requests in flight must fit in it.
        double shutdown = double.Parse(container.Args[container.Args.IndexOf("--shutdown-timeout") + 1], System.Globalization.CultureInfo.InvariantCulture);
        double drain = double.Parse(container.Args[container.Args.IndexOf("--drain-delay") + 1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(drain < shutdown && shutdown < deployment.Spec.Template.Spec.TerminationGracePeriodSeconds);
        // The drain outlasts the time the readiness probe needs to notice.
        Assert.True(drain > container.ReadinessProbe.PeriodSeconds * container.ReadinessProbe.FailureThreshold);

        // The same non-root user as the image.
        var user = Instructions().Last(i => i.Keyword == "USER").Arguments;
        Assert.Equal(long.Parse(user, System.Globalization.CultureInfo.InvariantCulture), deployment.Spec.Template.Spec.SecurityContext.RunAsUser);
    }

    [Fact]
    public void A_field_the_API_does_not_know_is_caught()
    {
        const string typo = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicaz: 2\n";
        var typed = KubernetesYaml.LoadAllFromString(typo).Single();
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertNothingDropped(typo, typed, "typo"));
    }

    [Fact]
    public void Dockerfile_is_multi_stage_non_root_and_builds_from_files_that_exist()
    {
        var instructions = Instructions();
        var stages = instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments).ToList();
        Assert.True(stages.Count >= 2, "expected a build stage and a runtime stage");
        foreach (var from in stages)
        {
            var image = from.Split(' ')[0];
            Assert.Matches(@"^[\w./-]+:[\w.-]+$", image);
            Assert.DoesNotContain(":latest", image);
        }
        Assert.Contains("/dotnet/sdk:", stages[0]);
        Assert.Contains("/dotnet/aspnet:", stages[^1]);

        // The last stage drops root.
        int lastFrom = instructions.FindLastIndex(i => i.Keyword == "FROM");
        var user = instructions.Skip(lastFrom).Last(i => i.Keyword == "USER").Arguments;
        Assert.True(int.TryParse(user, out int uid) && uid > 0, $"USER {user}: expected a numeric non-root uid");

        // Every COPY from the context names something in the repository (and not an ignored folder).
        var ignored = Read(".dockerignore").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        var copied = new List<string>();
        foreach (var copy in instructions.Where(i => i.Keyword == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal)))
        {
            var parts = copy.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var source in parts[..^1])
            {
                Assert.True(File.Exists(Path.Combine(Repo, source)) || Directory.Exists(Path.Combine(Repo, source)), $"COPY {source}: not in the repository");
                Assert.DoesNotContain(ignored, i => source.StartsWith(i.TrimEnd('/'), StringComparison.Ordinal));
                copied.Add(source.TrimEnd('/'));
            }
        }
        // The restore layer has every project the command needs.
        var projects = new Queue<string>(["src/BertSharp.Cli/BertSharp.Cli.csproj"]);
        var seen = new HashSet<string>();
        while (projects.TryDequeue(out var project))
        {
            if (!seen.Add(project)) continue;
            Assert.Contains(project, copied);
            foreach (Match m in Regex.Matches(Read(project), "ProjectReference Include=\"([^\"]+)\""))
                projects.Enqueue(Path.GetRelativePath(Repo, Path.GetFullPath(Path.Combine(Repo, Path.GetDirectoryName(project)!, m.Groups[1].Value))).Replace('\\', '/'));
        }
        Assert.Equal(7, seen.Count);

        // ENTRYPOINT and CMD in exec form (so SIGTERM reaches dotnet, not a shell), naming the real dll and options.
        var entry = JsonSerializer.Deserialize<string[]>(instructions.Last(i => i.Keyword == "ENTRYPOINT").Arguments)!;
        var cmd = JsonSerializer.Deserialize<List<string>>(instructions.Last(i => i.Keyword == "CMD").Arguments)!;
        Assert.Equal(["dotnet", "/app/BertSharp.Cli.dll", "serve"], entry);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(CliRunner.CliPath)!, Path.GetFileName(entry[1]))));
        AssertServeAccepts(cmd, ServeHelp(), "Dockerfile CMD");
        Assert.Equal(instructions.Single(i => i.Keyword == "EXPOSE").Arguments, Port(cmd).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
