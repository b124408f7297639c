namespace BertSharp.Model;

/// <summary>How one forward pass runs.</summary>
/// <param name="Packed">Use weights packed once for the GEMM (inference on a model whose weights cannot change).</param>
/// <param name="Training">Save what backward needs (pre-activations, attention probabilities).</param>
/// <param name="KeepProbs">Save attention probabilities (they are being recorded for the caller).</param>
internal readonly record struct PassMode(bool Packed, bool Training, bool KeepProbs);
