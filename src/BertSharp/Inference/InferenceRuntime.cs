namespace BertSharp.Inference;

/// <summary>Which engine runs a pipeline's forward pass.</summary>
public enum InferenceRuntime
{
    /// <summary>BertSharp's own encoder (every feature: attentions, hidden states, embeddings).</summary>
    Managed,

    /// <summary>
    /// ONNX Runtime on the directory's <c>model.onnx</c> (written by <c>bertsharp export-onnx</c>): logits only. Needs the
    /// <c>BertSharp.OnnxRuntime</c> package; without it, loading says so.
    /// </summary>
    Onnx,
}
