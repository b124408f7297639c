using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>A sequence-classification result with the encoder's internals when asked for.</summary>
public sealed class ClassifierOutput
{
    /// <summary>[batch, labels]</summary>
    public required FloatTensor Logits { get; init; }

    /// <summary>[batch, labels]: softmax of the logits.</summary>
    public required FloatTensor Probabilities { get; init; }

    /// <summary>Embedding output then each layer's output, each [batch, sequence, hidden], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? HiddenStates { get; init; }

    /// <summary>Each layer's attention probabilities [batch, heads, sequence, sequence], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? Attentions { get; init; }
}
