using BertSharp.Model;

namespace BertSharp.Inference;

/// <summary>One engine that runs a task model's forward pass: the managed model or ONNX Runtime on its export.</summary>
public interface IModelRuntime : IDisposable
{
    /// <summary>Which engine this is.</summary>
    InferenceRuntime Kind { get; }

    /// <summary>The head's output for a padded batch, row-major (e.g. [batch, labels]).</summary>
    float[] Run(BertInput input);
}

/// <summary>The managed engine: a <see cref="BertPreTrainedModel"/>'s evaluation-mode output.</summary>
internal sealed class ManagedRuntime(BertPreTrainedModel model) : IModelRuntime
{
    public BertPreTrainedModel Model { get; } = model;

    public InferenceRuntime Kind => InferenceRuntime.Managed;

    public float[] Run(BertInput input) => Model.Logits(input);

    public void Dispose()
    {
    }
}
