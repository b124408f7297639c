using BertSharp.Tensors;

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

    // x (N,C) → c.Out.Output (N,C). mode: packed weights (inference), saved activations (training). next: the layer
    // that runs on this one's output, if any (its projection may ride on this layer's loop, LayerTail.RunQueryBlocks).
    public void Forward(float[] x, KeyMask mask, Cache c, int B, int T, DropoutStream? dropout, PassMode mode, BertLayer? next = null)
    {
        int N = B * T;
        var mm = AttentionOutput.Dense.MatMul;
        bool blocked = mode.Packed && !mode.Training && !mode.KeepProbs && dropout is null;
        if (blocked && LayerTail.WholeLayerWorthwhile(B, T, mask, mm))
        {
            using (OpProfile.Time(OpProfile.Op.BlockedLayer))
            {
                c.Out.Ensure(N, SelfAttention.Query.In);
                c.Tail.RunLayer(this, x, mask, c.Out.Output, B, T);
            }
            return;
        }
        if (blocked && LayerTail.QueryBlocksWorthwhile(N, T, mask, mm))
        {
            using (OpProfile.Time(OpProfile.Op.BlockedLayer))
            {
                c.Out.Ensure(N, SelfAttention.Query.In);
                var ahead = next is not null && TakesQueryBlocks(next, B, T, mask) ? next : null;
                c.Tail.RunQueryBlocks(this, ahead, x, mask, c.Out.Output, B, T);
            }
            return;
        }
        SelfAttention.Forward(x, mask, c.Attention, B, T, dropout, mode.Packed, mode.Training || mode.KeepProbs);
        if (mode.Packed && !mode.Training && dropout is null && LayerTail.Worthwhile(N, mm))
        {
            using (OpProfile.Time(OpProfile.Op.FusedTail))
            {
                c.AttentionOut.Ensure(N, SelfAttention.Query.In);
                c.Out.Ensure(N, SelfAttention.Query.In);
                c.Tail.Run(this, c.Attention.Context, x, c.AttentionOut.Output, c.Out.Output, N);
            }
            return;
        }
        using (OpProfile.Time(OpProfile.Op.AttentionOutput))
        {
            AttentionOutput.Forward(c.Attention.Context, x, c.AttentionOut, N, T, dropout, mode.Packed);               // a1 = LN(drop(ctx Wo) + x)
        }
        using (OpProfile.Time(OpProfile.Op.Intermediate))
        {
            Intermediate.Forward(c.AttentionOut.Output, c.Intermediate, N, mode.Packed, mode.Training);            // g = gelu(a1 Wi)
        }
        using (OpProfile.Time(OpProfile.Op.Output))
        {
            Output.Forward(c.Intermediate.Output, c.AttentionOut.Output, c.Out, N, T, dropout, mode.Packed);           // h = LN(drop(g Wo2) + a1)
        }
    }

    // Whether a blocked inference pass of this shape runs the layer by query blocks (Forward's choice for that layer).
    private static bool TakesQueryBlocks(BertLayer layer, int B, int T, KeyMask mask)
    {
        var mm = layer.AttentionOutput.Dense.MatMul;
        return !LayerTail.WholeLayerWorthwhile(B, T, mask, mm) && LayerTail.QueryBlocksWorthwhile(B * T, T, mask, mm);
    }

    // dOut (N,C) → dx (N,C), written. dOut is left unchanged.
    public void Backward(float[] x, Cache c, KeyMask mask, float[] dOut, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T;
        s.Ensure(N, SelfAttention.Query.In, Intermediate.Dense.Out);
        // dA1 = ∂/∂a1 via the residual; dG = ∂/∂g
        using (OpProfile.Time(OpProfile.Op.OutputBackward))
        {
            Output.Backward(c.Intermediate.Output, c.Out, dOut, s.DIntermediate, s.DA1, s.DHidden, N);
        }
        // dA1 += through the feed-forward
        using (OpProfile.Time(OpProfile.Op.IntermediateBackward))
        {
            Intermediate.Backward(c.AttentionOut.Output, c.Intermediate, s.DIntermediate, s.DA1, s.DPre, N);
        }
        // dx = through the residual; dCtx = through the output projection
        using (OpProfile.Time(OpProfile.Op.AttentionOutputBackward))
        {
            AttentionOutput.Backward(c.Attention.Context, c.AttentionOut, s.DA1, s.DContext, dx, s.DHidden, N);
        }
        // dx += through the attention
        SelfAttention.Backward(x, c.Attention, mask, s.DContext, dx, s.Attention, B, T);
    }

    // [CLS]-only last layer: x (N,C) → c.Out.Output (B,C), the final state of each sequence's first
    // token, exactly as the full layer computes it; the other rows' outputs are never computed.
    public void ForwardCls(float[] x, KeyMask mask, Cache c, int B, int T, DropoutStream? dropout, PassMode mode)
    {
        int C = SelfAttention.Query.In;
        SelfAttention.ForwardCls(x, mask, c.Attention, B, T, dropout, mode.Packed);
        Buffers.Ensure(ref c.ClsInput, B * C);
        for (int b = 0; b < B; b++) x.AsSpan(b * T * C, C).CopyTo(c.ClsInput.AsSpan(b * C, C));
        AttentionOutput.Forward(c.Attention.Context, c.ClsInput, c.AttentionOut, B, 1, dropout, mode.Packed);
        Intermediate.Forward(c.AttentionOut.Output, c.Intermediate, B, mode.Packed, mode.Training);
        Output.Forward(c.Intermediate.Output, c.AttentionOut.Output, c.Out, B, 1, dropout, mode.Packed);
    }

    // dOut (B,C) → dx (N,C), written.
    public void BackwardCls(float[] x, Cache c, KeyMask mask, float[] dOut, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = SelfAttention.Query.In;
        s.Ensure(N, C, Intermediate.Dense.Out);
        Buffers.Ensure(ref s.DCls, B * C);
        Output.Backward(c.Intermediate.Output, c.Out, dOut, s.DIntermediate, s.DA1, s.DHidden, B);
        Intermediate.Backward(c.AttentionOut.Output, c.Intermediate, s.DIntermediate, s.DA1, s.DPre, B);
        AttentionOutput.Backward(c.Attention.Context, c.AttentionOut, s.DA1, s.DContext, s.DCls, s.DHidden, B);
        // dx = the residual's gradient at the [CLS] rows, zero elsewhere; then += through the attention.
        dx.AsSpan(0, N * C).Clear();
        for (int b = 0; b < B; b++) s.DCls.AsSpan(b * C, C).CopyTo(dx.AsSpan(b * T * C, C));
        SelfAttention.BackwardCls(x, c.Attention, mask, s.DContext, dx, s.Attention, B, T);
    }

    /// <summary>Activations saved for backward, one per layer.</summary>
    internal sealed class Cache
    {
        public BertSelfAttention.Cache Attention { get; } = new();
        public NormalizedSumCache AttentionOut { get; } = new();
        public BertIntermediate.Cache Intermediate { get; } = new();
        public NormalizedSumCache Out { get; } = new();

        /// <summary>Inference's fused row-block tail (its delegate made once).</summary>
        public LayerTail Tail => _tail ??= new LayerTail();

        private LayerTail? _tail;

        /// <summary>(B,C): the [CLS] rows of the input, the residual of a [CLS]-only layer.</summary>
        public float[] ClsInput = [];
    }

    /// <summary>Gradient buffers shared by all layers.</summary>
    internal sealed class Scratch
    {
        public float[] DA1 = [], DContext = [], DHidden = [], DPre = [], DCls = [];

        // The output layer's backward writes it as oneDNN's wide dx output (see AlignedArray).
        public readonly AlignedArray DIntermediate = new();

        public BertSelfAttention.Scratch Attention { get; } = new();

        public void Ensure(int n, int c, int intermediate)
        {
            Buffers.Ensure(ref DA1, n * c);
            Buffers.Ensure(ref DContext, n * c);
            Buffers.Ensure(ref DHidden, n * c);
            DIntermediate.Ensure(n * intermediate);
            Buffers.Ensure(ref DPre, n * intermediate);
        }
    }
}
