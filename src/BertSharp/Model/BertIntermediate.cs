using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>HF's BertIntermediate (path <c>intermediate</c>): dense to the intermediate size, then exact (erf) GELU.</summary>
internal sealed class BertIntermediate
{
    public BertIntermediate(WeightBuilder wb, BertConfig config)
    {
        Dense = new Linear(wb.Push("dense"), config.HiddenSize, config.IntermediateSize);
    }

    public Linear Dense { get; }

    // x (N,C) → c.Output (N,I), the bias added by the GEMM. keepDerivative (training) saves GELU′ of
    // the GEMM's output for backward; inference applies GELU in place.
    public void Forward(ReadOnlySpan<float> x, Cache c, int N, bool packed, bool keepDerivative)
    {
        int I = Dense.Out;
        c.Ensure(N * I, keepDerivative);
        if (!keepDerivative)
        {
            // Prepared weights where the model has them (packed), else the plain product then GELU in place.
            Dense.ForwardGelu(x, Dense.In, c.Output.AsSpan(0, N * I), N);
            return;
        }
        Dense.Forward(x, Dense.In, c.Derivative, N, packed);
        Kernels.GeluWithDerivative(c.Derivative.AsSpan(0, N * I), c.Output.AsSpan(0, N * I));
    }

    // dOut (N,I) → dx (N,C) += . dPre (N,I) is scratch. GELU's and the bias's backward are one pass.
    public void Backward(ReadOnlySpan<float> x, Cache c, ReadOnlySpan<float> dOut, Span<float> dx, Span<float> dPre, int N)
    {
        int I = Dense.Out;
        Kernels.MaskBiasBackward(dOut[..(N * I)], c.Derivative.AsSpan(0, N * I), dPre[..(N * I)], Dense.Bias.Grad, N, I);
        Dense.BackwardWeights(x, Dense.In, dPre, I, dx, Dense.In, N, accumulateDx: true);
    }

    /// <summary>Activations saved for backward.</summary>
    internal sealed class Cache
    {
        // GELU′ of the pre-activation (training only), and GELU's output.
        public readonly AlignedArray Derivative = new(), Output = new();

        public void Ensure(int length, bool derivative)
        {
            if (derivative) Derivative.Ensure(length);
            Output.Ensure(length);
        }
    }
}
