namespace BertSharp.Model;

/// <summary>HF's BertPooler (path <c>pooler</c>): tanh(dense(h[CLS])) on each sequence's first token.</summary>
internal sealed class BertPooler
{
    public BertPooler(WeightBuilder wb, BertConfig config) => Dense = new Linear(wb.Push("dense"), config.HiddenSize, config.HiddenSize);

    public Linear Dense { get; }

    // hidden (B,T,C) → output (B,C); the [CLS] rows are read in place with stride T·C.
    public void Forward(float[] hidden, float[] output, int B, int T)
    {
        int C = Dense.Out;
        Dense.Forward(hidden, T * C, output, B);
        VectorOps.Tanh(output.AsSpan(0, B * C), output.AsSpan(0, B * C));
    }

    // dOutput (B,C) is consumed; dHidden (B,T,C) += at the [CLS] rows.
    public void Backward(float[] hidden, float[] output, float[] dOutput, float[] dHidden, int B, int T)
    {
        int C = Dense.Out;
        VectorOps.TanhBackward(output.AsSpan(0, B * C), dOutput.AsSpan(0, B * C), dOutput.AsSpan(0, B * C));
        Dense.Backward(hidden, T * C, dOutput, dHidden, T * C, B, accumulateDx: true);
    }
}
