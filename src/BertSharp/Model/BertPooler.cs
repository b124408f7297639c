namespace BertSharp.Model;

/// <summary>HF's BertPooler (path <c>pooler</c>): tanh(dense(h[CLS])) on each sequence's first token.</summary>
internal sealed class BertPooler
{
    public BertPooler(WeightBuilder wb, BertConfig config) => Dense = new Linear(wb.Push("dense"), config.HiddenSize, config.HiddenSize);

    public Linear Dense { get; }

    // hidden: the [CLS] rows, B rows of C with stride ld (T·C in a (B,T,C) buffer) → output (B,C).
    public void Forward(float[] hidden, int ld, float[] output, int B, bool packed)
    {
        int C = Dense.Out;
        Dense.Forward(hidden, ld, output, B, packed);
        VectorOps.Tanh(output.AsSpan(0, B * C), output.AsSpan(0, B * C));
    }

    // dOutput (B,C) is consumed; dHidden += at the [CLS] rows (stride ld).
    public void Backward(float[] hidden, int ld, float[] output, float[] dOutput, float[] dHidden, int B)
    {
        int C = Dense.Out;
        VectorOps.TanhBackward(output.AsSpan(0, B * C), dOutput.AsSpan(0, B * C), dOutput.AsSpan(0, B * C));
        Dense.Backward(hidden, ld, dOutput, dHidden, ld, B, accumulateDx: true);
    }
}
