using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// y = x Wᵀ + b with W stored [out, in] as PyTorch's nn.Linear. Inputs may be strided (ldx ≥ in) so
/// the pooler and heads can read the [CLS] rows straight out of a [batch, seq, hidden] buffer.
/// </summary>
internal sealed class Linear
{
    public Linear(WeightBuilder wb, int inFeatures, int outFeatures)
    {
        In = inFeatures;
        Out = outFeatures;
        Weight = wb.Get("weight", [outFeatures, inFeatures], WeightInit.Normal, applyWeightDecay: true);
        Bias = wb.Get("bias", [outFeatures], WeightInit.Zeros, applyWeightDecay: false);
    }

    public int In { get; }
    public int Out { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    // x is (rows, In) with row stride ldx; y is (rows, Out) contiguous.
    public void Forward(ReadOnlySpan<float> x, int ldx, Span<float> y, int rows)
    {
        y = y[..(rows * Out)];
        Gemm.Multiply(false, true, rows, Out, In, 1f, x, ldx, Weight.Value.Data, In, 0f, y, Out);
        Kernels.AddBias(y, Bias.Value.Data, rows, Out);
    }

    // dW += dyᵀ x (Out, In); db += Σrows dy; dx (rows, In, stride lddx) = dy W, or += when accumulateDx.
    // An empty dx skips the input gradient (nothing upstream needs it).
    public void Backward(ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> dy, Span<float> dx, int lddx, int rows, bool accumulateDx)
    {
        dy = dy[..(rows * Out)];
        Gemm.Multiply(true, false, Out, In, rows, 1f, dy, Out, x, ldx, 1f, Weight.Grad, In);
        Kernels.BiasBackward(dy, Bias.Grad, rows, Out);
        if (!dx.IsEmpty)
            Gemm.Multiply(false, false, rows, In, Out, 1f, dy, Out, Weight.Value.Data, In, accumulateDx ? 1f : 0f, dx, lddx);
    }
}
