using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// One trainable tensor with its gradient, as the optimizer sees it. <see cref="Name"/> is the
/// Hugging Face path inside the model that owns it (bare for encoder weights: <c>encoder.layer.0.…</c>).
/// </summary>
internal sealed class Parameter
{
    private float[]? _grad;

    public Parameter(string name, FloatTensor value, bool applyWeightDecay)
    {
        Name = name;
        Value = value;
        ApplyWeightDecay = applyWeightDecay;
    }

    public string Name { get; }

    public FloatTensor Value { get; }

    /// <summary>
    /// Same length as <see cref="Value"/>; backward passes add into it. Allocated on first use so that a
    /// model used only for inference never pays for gradients.
    /// </summary>
    public float[] Grad => _grad ??= new float[Value.Length];

    /// <summary>False for biases and LayerNorm weights, which AdamW's decoupled decay skips.</summary>
    public bool ApplyWeightDecay { get; }

    public void ZeroGrad()
    {
        if (_grad is not null) Array.Clear(_grad);
    }
}
