using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Layer normalisation over the hidden dimension; HF names its parameters weight (γ) and bias (β).</summary>
internal sealed class LayerNorm
{
    private readonly float _eps;

    public LayerNorm(WeightBuilder wb, int size, float eps)
    {
        Size = size;
        _eps = eps;
        // Neither γ nor β is decayed: HF's recipe excludes "LayerNorm.weight" and biases.
        Weight = wb.Get("weight", [size], WeightInit.Ones, applyWeightDecay: false);
        Bias = wb.Get("bias", [size], WeightInit.Zeros, applyWeightDecay: false);
    }

    public int Size { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    // x, y are (rows, Size); mean and rstd (rows) are saved for backward.
    public void Forward(ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> rstd, int rows) =>
        Kernels.LayerNorm(x[..(rows * Size)], Weight.Value.Data, Bias.Value.Data, y[..(rows * Size)],
            mean[..rows], rstd[..rows], rows, Size, _eps);

    // sum = x + residual (saved for backward; may alias x), y = LayerNorm(sum), in one pass.
    public void AddForward(ReadOnlySpan<float> x, ReadOnlySpan<float> residual, Span<float> sum, Span<float> y, Span<float> mean, Span<float> rstd, int rows) =>
        Kernels.AddLayerNorm(x[..(rows * Size)], residual[..(rows * Size)], Weight.Value.Data, Bias.Value.Data, sum[..(rows * Size)],
            y[..(rows * Size)], mean[..rows], rstd[..rows], rows, Size, _eps);

    // dx (rows, Size) is written; dγ, dβ accumulate.
    public void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd, Span<float> dx, int rows) =>
        Kernels.LayerNormBackward(dy[..(rows * Size)], x[..(rows * Size)], mean[..rows], rstd[..rows], Weight.Value.Data,
            dx[..(rows * Size)], Weight.Grad, Bias.Grad, rows, Size);
}
