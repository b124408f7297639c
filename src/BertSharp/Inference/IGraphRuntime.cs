namespace BertSharp.Inference;

/// <summary>
/// An engine that runs an exported graph file rather than the managed model: <see cref="InferenceRuntime.Onnx"/>,
/// ONNX Runtime on the <c>model.onnx</c> that <c>bertsharp export-onnx</c> writes (the <c>BertSharp.OnnxRuntime</c>
/// package's <c>OnnxRuntimeModel</c>). Its output is the graph's <c>logits</c>.
/// </summary>
public interface IGraphRuntime : IModelRuntime
{
    /// <summary>The last dimension of <c>logits</c>: the labels of a classifier, the width of a per-token head.</summary>
    int OutputWidth { get; }

    /// <summary>The graph file this engine runs.</summary>
    string ModelPath { get; }
}

/// <summary>
/// Opens <see cref="IGraphRuntime"/>s for <see cref="InferenceRuntime.Onnx"/>. The <c>BertSharp.OnnxRuntime</c> package
/// implements it; the core finds that implementation by name when the application references the package, so the
/// core itself carries no ONNX Runtime.
/// </summary>
public interface IGraphRuntimeFactory
{
    /// <summary>Opens a graph file, or the graph inside a model directory.</summary>
    /// <param name="path">The .onnx file or the model directory holding <c>model.onnx</c>.</param>
    /// <param name="threads">Intra-op threads (at least 1).</param>
    IGraphRuntime Open(string path, int threads);
}
