using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// y = x Wᵀ + b with W stored [out, in] as PyTorch's nn.Linear. Inputs may be strided (ldx ≥ in) so
/// the pooler and heads can read the [CLS] rows straight out of a [batch, seq, hidden] buffer.
/// </summary>
internal sealed class Linear
{
    private readonly WeightState _state;
    private PreparedWeight? _prepared;

    public Linear(WeightBuilder wb, int inFeatures, int outFeatures)
    {
        In = inFeatures;
        Out = outFeatures;
        _state = wb.State;
        Weight = wb.Get("weight", [outFeatures, inFeatures], WeightInit.Normal, applyWeightDecay: true);
        Bias = wb.Get("bias", [outFeatures], WeightInit.Zeros, applyWeightDecay: false);
    }

    public int In { get; }
    public int Out { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    /// <summary>The model's provider, which runs this layer's products.</summary>
    public MatMul MatMul => _state.MatMul;

    // x is (rows, In) with row stride ldx; y is (rows, Out) with row stride ldy (Out when 0). The bias
    // is added as the GEMM writes y. packed: inference may use W prepared once by the provider (see WeightState).
    public void Forward(ReadOnlySpan<float> x, int ldx, Span<float> y, int rows, bool packed = false, int ldy = 0)
    {
        if (ldy == 0) ldy = Out;
        var mm = _state.MatMul;
        if (packed && Prepared(mm) is { } w)
            mm.Multiply(rows, x, ldx, w, Bias.Value.Data, y, ldy);
        else
            mm.Multiply(false, true, rows, Out, In, 1f, x, ldx, Weight.Value.Data, In, Bias.Value.Data, 0f, y, ldy);
    }

    // Inference's y = gelu(x Wᵀ + b) (y dense, rows × Out): on prepared weights the provider may fuse GELU into the product.
    public void ForwardGelu(ReadOnlySpan<float> x, int ldx, Span<float> y, int rows)
    {
        var mm = _state.MatMul;
        if (Prepared(mm) is { } w)
        {
            mm.Multiply(rows, x, ldx, w, Bias.Value.Data, y, Out, gelu: true);
            return;
        }
        Forward(x, ldx, y, rows);
        Kernels.Gelu(y[..(rows * Out)], y[..(rows * Out)]);
    }

    // dW += dyᵀ x (Out, In); db += Σrows dy; dx (rows, In, stride lddx) = dy W, or += when accumulateDx.
    // An empty dx skips the input gradient (nothing upstream needs it).
    public void Backward(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> dy, Span<float> dx, int lddx, int rows, bool accumulateDx)
    {
        Kernels.BiasBackward(dy[..(rows * Out)], Bias.Grad, rows, Out);
        BackwardWeights(x, ldx, dy, Out, dx, lddx, rows, accumulateDx);
    }

    // Backward without the bias gradient, which the caller computed (fused with another kernel or
    // over a wider buffer); dy has row stride lddy.
    public void BackwardWeights(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> dy, int lddy, Span<float> dx, int lddx, int rows, bool accumulateDx)
    {
        _state.MatMul.LinearBackward(rows, In, Out, x, ldx, dy, lddy, Weight.Value.Data, 1f, Weight.Grad, dx, lddx, accumulateDx);
    }

    // W prepared for y = x·Wᵀ by the model's provider, built on first use; null once the weights may change.
    public PreparedWeight? Prepared(MatMul mm)
    {
        if (_state.Mutable)
        {
            _prepared = null;
            return null;
        }
        var p = Volatile.Read(ref _prepared);
        if (p is null || p.Owner != mm)
        {
            // Two threads may both prepare; either copy is right.
            p = mm.Prepare(Weight.Value.Data, Out, In);
            Volatile.Write(ref _prepared, p);
        }
        return _state.Mutable ? null : p;
    }
}
