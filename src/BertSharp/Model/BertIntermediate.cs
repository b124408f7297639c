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

    // x (N,C) → c.Output (N,I), the bias added by the GEMM. keepPreActivation (training) saves the
    // GEMM's output for GELU's backward; inference applies GELU in place.
    public void Forward(ReadOnlySpan<float> x, Cache c, int N, bool packed, bool keepPreActivation)
    {
        int I = Dense.Out;
        c.Ensure(N * I, keepPreActivation);
        if (!keepPreActivation)
        {
            // Prepared weights where the model has them (packed), else the plain product then GELU in place.
            Dense.ForwardGelu(x, Dense.In, c.Output.AsSpan(0, N * I), N);
            return;
        }
        Dense.Forward(x, Dense.In, c.PreActivation, N, packed);
        Kernels.Gelu(c.PreActivation.AsSpan(0, N * I), c.Output.AsSpan(0, N * I));
    }

    // dOut (N,I) → dx (N,C) += . dPre (N,I) is scratch. GELU's and the bias's backward are one pass.
    public void Backward(ReadOnlySpan<float> x, Cache c, ReadOnlySpan<float> dOut, Span<float> dx, Span<float> dPre, int N)
    {
        int I = Dense.Out;
        Kernels.BiasGeluBackward(c.PreActivation.AsSpan(0, N * I), dOut[..(N * I)], dPre[..(N * I)], Dense.Bias.Grad, N, I);
        Dense.BackwardWeights(x, Dense.In, dPre, I, dx, Dense.In, N, accumulateDx: true);
    }

    /// <summary>Activations saved for backward.</summary>
    internal sealed class Cache
    {
        public readonly AlignedArray PreActivation = new(), Output = new();

        public void Ensure(int length, bool preActivation)
        {
            if (preActivation) PreActivation.Ensure(length);
            Output.Ensure(length);
        }
    }
}
