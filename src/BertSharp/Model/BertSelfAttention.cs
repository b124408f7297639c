using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// HF's BertSelfAttention (path <c>attention.self</c>): query/key/value projections, per-head scaled
/// dot products with the additive padding mask, softmax, attention dropout, and the context merged
/// back to (N, C). Head h of row b is the column block [h·d, (h+1)·d) of rows [b·T, (b+1)·T), addressed
/// in place through GEMM leading dimensions, so heads are never copied out.
/// </summary>
internal sealed class BertSelfAttention
{
    private readonly int _hidden, _heads, _headSize;
    private readonly float _scale, _dropout;

    public BertSelfAttention(WeightBuilder wb, BertConfig config)
    {
        _hidden = config.HiddenSize;
        _heads = config.NumAttentionHeads;
        _headSize = config.HeadSize;
        _scale = 1f / MathF.Sqrt(_headSize);
        _dropout = config.AttentionProbsDropoutProb;
        Query = new Linear(wb.Push("query"), _hidden, _hidden);
        Key = new Linear(wb.Push("key"), _hidden, _hidden);
        Value = new Linear(wb.Push("value"), _hidden, _hidden);
    }

    public int Heads => _heads;

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }

    // x (N,C) → c.Context (N,C). maskAdd (B,T): 0 for real keys, float.MinValue for padding (HF's finfo.min).
    // Saves q, k, v (N,C), probs (B,H,T,T) and, in training, the dropout mask and dropped probs.
    public void Forward(float[] x, float[] maskAdd, Cache c, int B, int T, DropoutStream? dropout)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        c.Ensure(N, C, B * H * T * T);
        long t0 = OpProfile.Start();
        Query.Forward(x, C, c.Q, N);
        Key.Forward(x, C, c.K, N);
        Value.Forward(x, C, c.V, N);
        OpProfile.Stop(OpProfile.Op.QkvProjection, t0);
        t0 = OpProfile.Start();
        c.Dropped = dropout is not null && _dropout > 0;
        ulong key = 0;
        if (c.Dropped)
        {
            key = dropout!.NextKey();
            Buffers.Ensure(ref c.Mask, B * H * T * T);
            Buffers.Ensure(ref c.DroppedProbs, B * H * T * T);
        }
        float scale = _scale, p = _dropout;
        Parallel.For(0, B * H, bh =>
        {
            int b = bh / H, h = bh % H, off = b * T * C + h * d, tt = T * T;
            var probs = c.Probs.AsSpan(bh * tt, tt);
            // scores (T,T) = scale · Q_bh K_bhᵀ + mask
            Gemm.Multiply(false, true, T, T, d, scale, c.Q.AsSpan(off), C, c.K.AsSpan(off), C, 0f, probs, T);
            var mask = maskAdd.AsSpan(b * T, T);
            for (int i = 0; i < T; i++) VectorOps.AddInPlace(probs.Slice(i * T, T), mask);
            Kernels.SoftmaxRows(probs, T, T);
            ReadOnlySpan<float> used = probs;
            if (c.Dropped)
            {
                var dropped = c.DroppedProbs.AsSpan(bh * tt, tt);
                Dropout.Forward(probs, dropped, c.Mask.AsSpan(bh * tt, tt), p, key, (long)bh * tt);
                used = dropped;
            }
            // context_bh (T,d) = P_bh V_bh
            Gemm.Multiply(false, false, T, d, T, 1f, used, T, c.V.AsSpan(off), C, 0f, c.Context.AsSpan(off), C);
        });
        OpProfile.Stop(OpProfile.Op.Attention, t0);
    }

    // dContext (N,C) → dx (N,C), written. Scratch: dq, dk, dv (N,C), dProbs (B,H,T,T).
    public void Backward(float[] x, Cache c, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        s.Ensure(N, C, B * H * T * T);
        float scale = _scale;
        long t0 = OpProfile.Start();
        Parallel.For(0, B * H, bh =>
        {
            int b = bh / H, h = bh % H, off = b * T * C + h * d, tt = T * T;
            var probs = c.Probs.AsSpan(bh * tt, tt);
            ReadOnlySpan<float> used = c.Dropped ? c.DroppedProbs.AsSpan(bh * tt, tt) : probs;
            var dP = s.DProbs.AsSpan(bh * tt, tt);
            var dCtx = dContext.AsSpan(off);
            // dP_used = dCtx V_bhᵀ (T,T); dV_bh = P_usedᵀ dCtx (T,d)
            Gemm.Multiply(false, true, T, T, d, 1f, dCtx, C, c.V.AsSpan(off), C, 0f, dP, T);
            Gemm.Multiply(true, false, T, d, T, 1f, used, T, dCtx, C, 0f, s.DV.AsSpan(off), C);
            if (c.Dropped) Dropout.Backward(dP, c.Mask.AsSpan(bh * tt, tt), dP);
            // dScores = softmax backward; the additive mask is a constant and takes no gradient.
            Kernels.SoftmaxRowsBackward(probs, dP, dP, T, T);
            // dQ_bh = scale · dS K_bh; dK_bh = scale · dSᵀ Q_bh
            Gemm.Multiply(false, false, T, d, T, scale, dP, T, c.K.AsSpan(off), C, 0f, s.DQ.AsSpan(off), C);
            Gemm.Multiply(true, false, T, d, T, scale, dP, T, c.Q.AsSpan(off), C, 0f, s.DK.AsSpan(off), C);
        });
        OpProfile.Stop(OpProfile.Op.AttentionBackward, t0);
        t0 = OpProfile.Start();
        Query.Backward(x, C, s.DQ, dx, C, N, accumulateDx: false);
        Key.Backward(x, C, s.DK, dx, C, N, accumulateDx: true);
        Value.Backward(x, C, s.DV, dx, C, N, accumulateDx: true);
        OpProfile.Stop(OpProfile.Op.QkvBackward, t0);
    }

    // [CLS]-only variant for a last layer whose other rows nobody reads (classification): keys and
    // values for all N rows, the query for each sequence's row 0 only. x (N,C) → c.Context (B,C);
    // c.Q (B,C), probs (B,H,1,T).
    public void ForwardCls(float[] x, float[] maskAdd, Cache c, int B, int T, DropoutStream? dropout)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        c.Ensure(N, C, B * H * T);
        Query.Forward(x, T * C, c.Q, B);
        Key.Forward(x, C, c.K, N);
        Value.Forward(x, C, c.V, N);
        c.Dropped = dropout is not null && _dropout > 0;
        ulong key = 0;
        if (c.Dropped)
        {
            key = dropout!.NextKey();
            Buffers.Ensure(ref c.Mask, B * H * T);
            Buffers.Ensure(ref c.DroppedProbs, B * H * T);
        }
        float scale = _scale, p = _dropout;
        Parallel.For(0, B * H, bh =>
        {
            int b = bh / H, h = bh % H, kv = b * T * C + h * d, q = b * C + h * d;
            var probs = c.Probs.AsSpan(bh * T, T);
            // scores (1,T) = scale · q_bh K_bhᵀ + mask
            Gemm.Multiply(false, true, 1, T, d, scale, c.Q.AsSpan(q), C, c.K.AsSpan(kv), C, 0f, probs, T);
            VectorOps.AddInPlace(probs, maskAdd.AsSpan(b * T, T));
            Kernels.SoftmaxRows(probs, 1, T);
            ReadOnlySpan<float> used = probs;
            if (c.Dropped)
            {
                var dropped = c.DroppedProbs.AsSpan(bh * T, T);
                Dropout.Forward(probs, dropped, c.Mask.AsSpan(bh * T, T), p, key, (long)bh * T);
                used = dropped;
            }
            // context_bh (1,d) = P V_bh
            Gemm.Multiply(false, false, 1, d, T, 1f, used, T, c.V.AsSpan(kv), C, 0f, c.Context.AsSpan(q), C);
        });
    }

    // Backward of ForwardCls: dContext (B,C) → dx (N,C), written (the query's part lands on rows b·T).
    public void BackwardCls(float[] x, Cache c, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        s.Ensure(N, C, B * H * T);
        float scale = _scale;
        Parallel.For(0, B * H, bh =>
        {
            int b = bh / H, h = bh % H, kv = b * T * C + h * d, q = b * C + h * d;
            var probs = c.Probs.AsSpan(bh * T, T);
            ReadOnlySpan<float> used = c.Dropped ? c.DroppedProbs.AsSpan(bh * T, T) : probs;
            var dP = s.DProbs.AsSpan(bh * T, T);
            var dCtx = dContext.AsSpan(q);
            // dP_used (1,T) = dCtx V_bhᵀ; dV_bh (T,d) = P_usedᵀ dCtx
            Gemm.Multiply(false, true, 1, T, d, 1f, dCtx, C, c.V.AsSpan(kv), C, 0f, dP, T);
            Gemm.Multiply(true, false, T, d, 1, 1f, used, T, dCtx, C, 0f, s.DV.AsSpan(kv), C);
            if (c.Dropped) Dropout.Backward(dP, c.Mask.AsSpan(bh * T, T), dP);
            Kernels.SoftmaxRowsBackward(probs, dP, dP, 1, T);
            // dq_bh (1,d) = scale · dS K_bh; dK_bh (T,d) = scale · dSᵀ q_bh
            Gemm.Multiply(false, false, 1, d, T, scale, dP, T, c.K.AsSpan(kv), C, 0f, s.DQ.AsSpan(q), C);
            Gemm.Multiply(true, false, T, d, 1, scale, dP, T, c.Q.AsSpan(q), C, 0f, s.DK.AsSpan(kv), C);
        });
        Key.Backward(x, C, s.DK, dx, C, N, accumulateDx: false);
        Value.Backward(x, C, s.DV, dx, C, N, accumulateDx: true);
        Query.Backward(x, T * C, s.DQ, dx, T * C, B, accumulateDx: true);
    }

    /// <summary>Activations saved for backward.</summary>
    internal sealed class Cache
    {
        public float[] Q = [], K = [], V = [], Probs = [], Mask = [], DroppedProbs = [], Context = [];
        public bool Dropped;

        public void Ensure(int n, int c, int probs)
        {
            Buffers.Ensure(ref Q, n * c);
            Buffers.Ensure(ref K, n * c);
            Buffers.Ensure(ref V, n * c);
            Buffers.Ensure(ref Context, n * c);
            Buffers.Ensure(ref Probs, probs);
        }
    }

    /// <summary>Gradient buffers shared by all layers' backward passes.</summary>
    internal sealed class Scratch
    {
        public float[] DQ = [], DK = [], DV = [], DProbs = [];

        public void Ensure(int n, int c, int probs)
        {
            Buffers.Ensure(ref DQ, n * c);
            Buffers.Ensure(ref DK, n * c);
            Buffers.Ensure(ref DV, n * c);
            Buffers.Ensure(ref DProbs, probs);
        }
    }
}
