using System.Reflection;
using BertSharp.Inference;
using BertSharp.Training;

namespace BertSharp;

/// <summary>
/// The parts of BertSharp that ship as packages of their own so that the core package carries none of their weight
/// (ONNX Runtime's and Skia's native libraries for every platform): the core finds each by assembly and type name when
/// the application references its package, and says which package to add when it does not.
/// </summary>
internal static class AddOnPackages
{
    public const string OnnxRuntime = "BertSharp.OnnxRuntime", Plots = "BertSharp.Plots";

    private static readonly Lazy<IGraphRuntimeFactory?> GraphFactory = new(() => Create<IGraphRuntimeFactory>(OnnxRuntime, "BertSharp.OnnxRuntime.OnnxRuntimeFactory"));
    private static readonly Lazy<ITrainingPlots?> Charts = new(() => Create<ITrainingPlots>(Plots, "BertSharp.Plots.TrainingPlots"));

    /// <summary>ONNX Runtime for <see cref="InferenceRuntime.Onnx"/>.</summary>
    /// <exception cref="NotSupportedException">The application does not reference BertSharp.OnnxRuntime.</exception>
    public static IGraphRuntimeFactory Onnx => GraphFactory.Value
        ?? throw new NotSupportedException($"the onnx runtime runs the exported model.onnx on ONNX Runtime, which comes in the package {OnnxRuntime}: add it (dotnet add package {OnnxRuntime}), or use the managed runtime");

    /// <summary>The training charts, or null when the application does not reference BertSharp.Plots.</summary>
    public static ITrainingPlots? TrainingPlots => Charts.Value;

    // Null when the package's assembly is absent; an assembly without the type is a broken install and throws.
    private static T? Create<T>(string assembly, string type) where T : class
    {
        Assembly loaded;
        try { loaded = Assembly.Load(assembly); }
        catch (FileNotFoundException) { return null; }
        return (T)Activator.CreateInstance(loaded.GetType(type, throwOnError: true)!, nonPublic: true)!;
    }
}
