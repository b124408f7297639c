using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>What the encoder returns, with Hugging Face's output names.</summary>
public sealed class BertOutput
{
    /// <summary>[batch, sequence, hidden]</summary>
    public required FloatTensor LastHiddenState { get; init; }

    /// <summary>[batch, hidden]: tanh(dense([CLS])), or null when the model has no pooler.</summary>
    public FloatTensor? PoolerOutput { get; init; }

    /// <summary>Embedding output then each layer's output, each [batch, sequence, hidden], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? HiddenStates { get; init; }

    /// <summary>Each layer's attention probabilities [batch, heads, sequence, sequence], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? Attentions { get; init; }
}
