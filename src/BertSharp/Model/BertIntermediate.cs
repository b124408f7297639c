using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>HF's BertIntermediate (path <c>intermediate</c>): dense to the intermediate size, then exact (erf) GELU.</summary>
internal sealed class BertIntermediate
{
    public BertIntermediate(WeightBuilder wb, BertConfig config)
    {
        if (config.HiddenAct != "gelu")
            throw new InvalidDataException($"hidden_act '{config.HiddenAct}' is not supported; BertSharp implements BERT's exact \"gelu\"");
        Dense = new Linear(wb.Push("dense"), config.HiddenSize, config.IntermediateSize);
    }

    public Linear Dense { get; }

    // x (N,C) → c.Output (N,I). Saves the pre-activation for GELU's backward.
    public void Forward(float[] x, Cache c, int N)
    {
        int I = Dense.Out;
        c.Ensure(N * I);
        Dense.Forward(x, Dense.In, c.PreActivation, N);
        Kernels.Gelu(c.PreActivation.AsSpan(0, N * I), c.Output.AsSpan(0, N * I));
    }

    // dOut (N,I) → dx (N,C) += . dPre (N,I) is scratch.
    public void Backward(float[] x, Cache c, float[] dOut, float[] dx, float[] dPre, int N)
    {
        int I = Dense.Out;
        Kernels.GeluBackward(c.PreActivation.AsSpan(0, N * I), dOut.AsSpan(0, N * I), dPre.AsSpan(0, N * I));
        Dense.Backward(x, Dense.In, dPre, dx, Dense.In, N, accumulateDx: true);
    }

    /// <summary>Activations saved for backward.</summary>
    internal sealed class Cache
    {
        public float[] PreActivation = [], Output = [];

        public void Ensure(int length)
        {
            Buffers.Ensure(ref PreActivation, length);
            Buffers.Ensure(ref Output, length);
        }
    }
}
