using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// y = x Wᵀ + b with W stored [out, in] as PyTorch's nn.Linear. Inputs may be strided (ldx ≥ in) so
/// the pooler and heads can read the [CLS] rows straight out of a [batch, seq, hidden] buffer.
/// </summary>
internal sealed class Linear
{
    private readonly WeightState _state;
    private PackedMatrix? _packed;

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

    // x is (rows, In) with row stride ldx; y is (rows, Out) with row stride ldy (Out when 0). The bias
    // is added as the GEMM writes y. packed: inference may use W packed once (see WeightState).
    public void Forward(ReadOnlySpan<float> x, int ldx, Span<float> y, int rows, bool packed = false, int ldy = 0)
    {
        if (ldy == 0) ldy = Out;
        if (packed && Packed() is { } w)
            Gemm.Multiply(false, rows, Out, In, 1f, x, ldx, w, Bias.Value.Data, 0f, y, ldy);
        else
            Gemm.Multiply(false, true, rows, Out, In, 1f, x, ldx, Weight.Value.Data, In, Bias.Value.Data, 0f, y, ldy);
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
        Gemm.Multiply(true, false, Out, In, rows, 1f, dy, lddy, x, ldx, 1f, Weight.Grad, In);
        if (!dx.IsEmpty)
            Gemm.Multiply(false, false, rows, In, Out, 1f, dy, lddy, Weight.Value.Data, In, accumulateDx ? 1f : 0f, dx, lddx);
    }

    // W packed for y = x·Wᵀ, built on first use; null once the weights may change.
    private PackedMatrix? Packed()
    {
        if (_state.Mutable)
        {
            _packed = null;
            return null;
        }
        var p = Volatile.Read(ref _packed);
        if (p is null)
        {
            // Two threads may both pack; either copy is right.
            p = PackedMatrix.Pack(true, In, Out, Weight.Value.Data, In);
            Volatile.Write(ref _packed, p);
        }
        return _state.Mutable ? null : p;
    }
}
