namespace BertSharp.Model;

/// <summary>
/// Whether a model's weights can still change, which decides whether inference may keep packed
/// copies of them (GEMM panels, the fused query/key/value matrix). A model that has never trained
/// and never handed out its tensors keeps packed weights for every inference call; once it trains
/// (the optimizer writes <see cref="Parameter.Value"/> directly) or its tensors are given out by
/// ToStateDict, its weights are read afresh on every call, so no copy can go stale.
/// </summary>
/// <remarks>It also carries the model's <see cref="Tensors.MatMul"/> provider, which every layer's products go through.</remarks>
internal sealed class WeightState
{
    private volatile bool _mutable;
    private volatile Tensors.MatMul _matMul = Tensors.MatMul.Managed;

    public Tensors.MatMul MatMul
    {
        get => _matMul;
        set => _matMul = value ?? throw new ArgumentNullException(nameof(value));
    }

    public bool Mutable => _mutable;

    public void MarkMutable() => _mutable = true;
}
