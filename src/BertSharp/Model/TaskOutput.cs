using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>A task model's output in evaluation mode, with the encoder's internals when asked for.</summary>
public sealed class TaskOutput
{
    /// <summary>The head's output (e.g. [batch, labels] for a sequence classifier, [batch, sequence, labels] per token).</summary>
    public required FloatTensor Logits { get; init; }

    /// <summary>Embedding output then each layer's output, each [batch, sequence, hidden], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? HiddenStates { get; init; }

    /// <summary>Each layer's attention probabilities [batch, heads, sequence, sequence], when asked for.</summary>
    public IReadOnlyList<FloatTensor>? Attentions { get; init; }
}
