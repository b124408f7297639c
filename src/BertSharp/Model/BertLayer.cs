namespace BertSharp.Model;

/// <summary>
/// HF's BertLayer (path <c>encoder.layer.{i}</c>): self-attention → output projection + residual
/// LayerNorm → feed-forward (intermediate GELU, output projection) + residual LayerNorm.
/// </summary>
internal sealed class BertLayer
{
    public BertLayer(WeightBuilder wb, BertConfig config)
    {
        var attention = wb.Push("attention");
        SelfAttention = new BertSelfAttention(attention.Push("self"), config);
        AttentionOutput = new BertResidualOutput(attention.Push("output"), config, config.HiddenSize);
        Intermediate = new BertIntermediate(wb.Push("intermediate"), config);
        Output = new BertResidualOutput(wb.Push("output"), config, config.IntermediateSize);
    }

    public BertSelfAttention SelfAttention { get; }
    public BertResidualOutput AttentionOutput { get; }
    public BertIntermediate Intermediate { get; }
    public BertResidualOutput Output { get; }

    // x (N,C) → c.Out.Output (N,C)
    public void Forward(float[] x, float[] maskAdd, Cache c, int B, int T, DropoutStream? dropout)
    {
        int N = B * T;
        SelfAttention.Forward(x, maskAdd, c.Attention, B, T, dropout);
        long t0 = OpProfile.Start();
        AttentionOutput.Forward(c.Attention.Context, x, c.AttentionOut, N, dropout);        // a1 = LN(drop(ctx Wo) + x)
        OpProfile.Stop(OpProfile.Op.AttentionOutput, t0);
        t0 = OpProfile.Start();
        Intermediate.Forward(c.AttentionOut.Output, c.Intermediate, N);                    // g = gelu(a1 Wi)
        OpProfile.Stop(OpProfile.Op.Intermediate, t0);
        t0 = OpProfile.Start();
        Output.Forward(c.Intermediate.Output, c.AttentionOut.Output, c.Out, N, dropout);    // h = LN(drop(g Wo2) + a1)
        OpProfile.Stop(OpProfile.Op.Output, t0);
    }

    // dOut (N,C) → dx (N,C), written. dOut is left unchanged.
    public void Backward(float[] x, Cache c, float[] dOut, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T;
        s.Ensure(N, SelfAttention.Query.In, Intermediate.Dense.Out);
        // dA1 = ∂/∂a1 via the residual; dG = ∂/∂g
        long t0 = OpProfile.Start();
        Output.Backward(c.Intermediate.Output, c.Out, dOut, s.DIntermediate, s.DA1, s.DHidden, N);
        OpProfile.Stop(OpProfile.Op.OutputBackward, t0);
        // dA1 += through the feed-forward
        t0 = OpProfile.Start();
        Intermediate.Backward(c.AttentionOut.Output, c.Intermediate, s.DIntermediate, s.DA1, s.DPre, N);
        OpProfile.Stop(OpProfile.Op.IntermediateBackward, t0);
        // dx = through the residual; dCtx = through the output projection
        t0 = OpProfile.Start();
        AttentionOutput.Backward(c.Attention.Context, c.AttentionOut, s.DA1, s.DContext, dx, s.DHidden, N);
        OpProfile.Stop(OpProfile.Op.AttentionOutputBackward, t0);
        // s.DHidden is free again: use it for the attention's input gradient, then add it to the residual's.
        SelfAttention.Backward(x, c.Attention, s.DContext, s.DHidden, s.Attention, B, T);
        VectorOps.AddInPlace(dx.AsSpan(0, N * SelfAttention.Query.In), s.DHidden);
    }

    // [CLS]-only last layer: x (N,C) → c.Out.Output (B,C), the final state of each sequence's first
    // token, exactly as the full layer computes it; the other rows' outputs are never computed.
    public void ForwardCls(float[] x, float[] maskAdd, Cache c, int B, int T, DropoutStream? dropout)
    {
        int C = SelfAttention.Query.In;
        SelfAttention.ForwardCls(x, maskAdd, c.Attention, B, T, dropout);
        Buffers.Ensure(ref c.ClsInput, B * C);
        for (int b = 0; b < B; b++) x.AsSpan(b * T * C, C).CopyTo(c.ClsInput.AsSpan(b * C, C));
        AttentionOutput.Forward(c.Attention.Context, c.ClsInput, c.AttentionOut, B, dropout);
        Intermediate.Forward(c.AttentionOut.Output, c.Intermediate, B);
        Output.Forward(c.Intermediate.Output, c.AttentionOut.Output, c.Out, B, dropout);
    }

    // dOut (B,C) → dx (N,C), written.
    public void BackwardCls(float[] x, Cache c, float[] dOut, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = SelfAttention.Query.In;
        s.Ensure(N, C, Intermediate.Dense.Out);
        Buffers.Ensure(ref s.DCls, B * C);
        Output.Backward(c.Intermediate.Output, c.Out, dOut, s.DIntermediate, s.DA1, s.DHidden, B);
        Intermediate.Backward(c.AttentionOut.Output, c.Intermediate, s.DIntermediate, s.DA1, s.DPre, B);
        AttentionOutput.Backward(c.Attention.Context, c.AttentionOut, s.DA1, s.DContext, s.DCls, s.DHidden, B);
        SelfAttention.BackwardCls(x, c.Attention, s.DContext, dx, s.Attention, B, T);
        for (int b = 0; b < B; b++) VectorOps.AddInPlace(dx.AsSpan(b * T * C, C), s.DCls.AsSpan(b * C, C));
    }

    /// <summary>Activations saved for backward, one per layer.</summary>
    internal sealed class Cache
    {
        public BertSelfAttention.Cache Attention { get; } = new();
        public BertResidualOutput.Cache AttentionOut { get; } = new();
        public BertIntermediate.Cache Intermediate { get; } = new();
        public BertResidualOutput.Cache Out { get; } = new();

        /// <summary>(B,C): the [CLS] rows of the input, the residual of a [CLS]-only layer.</summary>
        public float[] ClsInput = [];
    }

    /// <summary>Gradient buffers shared by all layers.</summary>
    internal sealed class Scratch
    {
        public float[] DA1 = [], DContext = [], DHidden = [], DIntermediate = [], DPre = [], DCls = [];

        public BertSelfAttention.Scratch Attention { get; } = new();

        public void Ensure(int n, int c, int intermediate)
        {
            Buffers.Ensure(ref DA1, n * c);
            Buffers.Ensure(ref DContext, n * c);
            Buffers.Ensure(ref DHidden, n * c);
            Buffers.Ensure(ref DIntermediate, n * intermediate);
            Buffers.Ensure(ref DPre, n * intermediate);
        }
    }
}
