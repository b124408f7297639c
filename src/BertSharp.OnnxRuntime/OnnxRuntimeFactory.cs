using BertSharp.Inference;

namespace BertSharp.OnnxRuntime;

/// <summary>What the core creates by name for <see cref="InferenceRuntime.Onnx"/> when this package is referenced.</summary>
internal sealed class OnnxRuntimeFactory : IGraphRuntimeFactory
{
    public IGraphRuntime Open(string path, int threads) => new OnnxRuntimeModel(path, threads);
}
