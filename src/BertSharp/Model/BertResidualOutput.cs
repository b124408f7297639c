using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// dense → dropout → LayerNorm(· + residual): HF's BertSelfOutput (path <c>attention.output</c>) and
/// its layer-level BertOutput (path <c>output</c>, a name our public <see cref="BertOutput"/> takes),
/// which differ only in the dense layer's input width.
/// </summary>
internal sealed class BertResidualOutput
{
    private readonly int _hidden;
    private readonly float _dropout;

    public BertResidualOutput(WeightBuilder wb, BertConfig config, int inputWidth)
    {
        _hidden = config.HiddenSize;
        _dropout = config.HiddenDropoutProb;
        Dense = new Linear(wb.Push("dense"), inputWidth, _hidden);
        Norm = new LayerNorm(wb.Push("LayerNorm"), _hidden, config.LayerNormEps);
    }

    public Linear Dense { get; }
    public LayerNorm Norm { get; }

    // input (N,in), residual (N,C) → c.Output (N,C), rowsPerSequence rows per sequence (T, or 1 in a [CLS]-only layer).
    // Saves the LayerNorm input c.Sum and its statistics.
    // The dense bias rides the GEMM; the residual add and LayerNorm are one pass.
    public void Forward(ReadOnlySpan<float> input, float[] residual, NormalizedSumCache c, int N, int rowsPerSequence, DropoutStream? dropout, bool packed)
    {
        int C = _hidden;
        c.Ensure(N, C);
        var sum = c.Sum.AsSpan(0, N * C);
        Dense.Forward(input, Dense.In, sum, N, packed);
        c.Dropped = dropout is not null && _dropout > 0;
        if (c.Dropped)
        {
            Buffers.Ensure(ref c.Mask, N * C);
            Dropout.ForwardInPlace(c.Sum, c.Mask, N * C, _dropout, dropout!.NextKey(), dropout.Offset((long)rowsPerSequence * C));
        }
        Norm.AddForward(sum, residual, sum, c.Output, c.Mean, c.Rstd, N);
    }

    // dOut (N,C) → dResidual (N,C) written (the gradient of the LayerNorm input, which flows to the
    // residual unchanged) and dInput (N,in) written. dDense (N,C) is scratch.
    public void Backward(ReadOnlySpan<float> input, NormalizedSumCache c, float[] dOut, Span<float> dInput, float[] dResidual, float[] dDense, int N)
    {
        int C = _hidden;
        Norm.Backward(dOut, c.Sum, c.Mean, c.Rstd, dResidual, N);
        if (!c.Dropped)
        {
            Dense.Backward(input, Dense.In, dResidual, dInput, Dense.In, N, accumulateDx: false);
            return;
        }
        // Dropout's backward and the bias gradient in one parallel pass.
        Kernels.MaskBiasBackward(dResidual.AsSpan(0, N * C), c.Mask.AsSpan(0, N * C), dDense.AsSpan(0, N * C), Dense.Bias.Grad, N, C);
        Dense.BackwardWeights(input, Dense.In, dDense, C, dInput, Dense.In, N, accumulateDx: false);
    }
}
