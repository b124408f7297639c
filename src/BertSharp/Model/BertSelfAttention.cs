using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// HF's BertSelfAttention (path <c>attention.self</c>): query/key/value projections, per-head scaled
/// dot products with the padding mask, softmax, attention dropout, and the context merged back to
/// (N, C). Q, K and V live side by side in one (N, 3C) buffer; head h of sequence b is the column
/// block h·d of rows [b·T, (b+1)·T) of each, addressed in place through GEMM leading dimensions.
/// Keys past a sequence's last real token are skipped (no scores, no work), which equals HF's
/// additive finfo.min mask there.
/// </summary>
/// <remarks>
/// Every case runs the one fused <see cref="Attention"/> kernel, dropout included (its mask is
/// rebuilt in backward from the call's key, so training stores only the probabilities): right
/// padding through the provider (which may run it on oneDNN), masks with holes with the additive
/// mask, and the [CLS]-only last layer with one query row per sequence.
/// </remarks>
internal sealed class BertSelfAttention
{
    private readonly int _hidden, _heads, _headSize;
    private readonly float _scale, _dropout;
    private readonly WeightState _state;
    private readonly Linear[] _parts;
    private PackedQkv? _packedQkv;

    public BertSelfAttention(WeightBuilder wb, BertConfig config)
    {
        _hidden = config.HiddenSize;
        _heads = config.NumAttentionHeads;
        _headSize = config.HeadSize;
        _scale = 1f / MathF.Sqrt(_headSize);
        _dropout = config.AttentionProbsDropoutProb;
        _state = wb.State;
        Query = new Linear(wb.Push("query"), _hidden, _hidden);
        Key = new Linear(wb.Push("key"), _hidden, _hidden);
        Value = new Linear(wb.Push("value"), _hidden, _hidden);
        _parts = [Query, Key, Value];
    }

    public int Heads => _heads;

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }

    // x (N,C) → c.Context (N,C). c.QKV (N,3C) holds q, k, v. Probabilities (B,H,T,T) are saved when
    // keepProbs (training, or attentions requested), with zeros at skipped keys.
    public void Forward(float[] x, KeyMask mask, Cache c, int B, int T, DropoutStream? dropout, bool packed, bool keepProbs)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        c.Dropped = dropout is not null && _dropout > 0;
        c.Fused = !mask.Holes;
        c.Key = c.Dropped ? dropout!.NextKey() : 0;
        c.Offset = c.Dropped ? dropout!.Offset((long)H * T * T) : 0;
        c.Ensure(N, C, keepProbs ? B * H * T * T : 0);
        using (OpProfile.Time(OpProfile.Op.QkvProjection))
        {
            ProjectQkv(x, c, N, packed);
        }
        using (OpProfile.Time(OpProfile.Op.Attention))
        {
            if (c.Fused)
            {
                _state.MatMul.SelfAttention(c.QKV, c.Context, mask.Valid, B, T, H, d, _scale,
                    keepProbs ? c.Probs.AsSpan(0, B * H * T * T) : default, c.Dropped ? _dropout : 0, c.Key, c.Offset);
            }
            else
            {
                var qkv = c.QKV.AsSpan(0, N * 3 * C);
                Attention.ForwardQueries(qkv, 3 * C, T, qkv[C..], qkv[(2 * C)..], 3 * C, c.Context, C, keepProbs ? c.Probs.AsSpan(0, B * H * T * T) : default,
                    B, T, H, d, _scale, mask.Valid, mask.Add.AsSpan(0, N), c.Dropped ? _dropout : 0, c.Key, c.Offset);
            }
        }
    }

    // dContext (N,C) → dx (N,C) += (dx holds the residual branch's gradient already).
    public void Backward(float[] x, Cache c, KeyMask mask, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        s.Ensure(N, C);
        using (OpProfile.Time(OpProfile.Op.AttentionBackward))
        {
            if (c.Fused)
            {
                _state.MatMul.SelfAttentionBackward(c.QKV, c.Probs, dContext, s.DQKV, mask.Valid, B, T, H, d, _scale,
                    c.Dropped ? _dropout : 0, c.Key, c.Offset);
            }
            else
            {
                var qkv = c.QKV.AsSpan(0, N * 3 * C);
                var dQkv = s.DQKV.AsSpan(0, N * 3 * C);
                Attention.BackwardQueries(qkv, 3 * C, T, qkv[C..], qkv[(2 * C)..], 3 * C, c.Probs, dContext, C, dQkv, 3 * C, dQkv[C..], dQkv[(2 * C)..], 3 * C,
                    B, T, H, d, _scale, mask.Valid, c.Dropped ? _dropout : 0, c.Key, c.Offset);
            }
        }
        using (OpProfile.Time(OpProfile.Op.QkvBackward))
        {
            // The three projections as one: x is packed once for [dWq; dWk; dWv] = dQKVᵀ x, and dx
            // gets dQKV [Wq; Wk; Wv] in one pass (k = 3C) instead of three read-modify-writes.
            if (!c.Stacked) throw new InvalidOperationException("attention backward needs a training forward pass first (the stacked QKV weights)");
            s.DBias.AsSpan(0, 3 * C).Clear();
            Kernels.BiasBackward(s.DQKV.AsSpan(0, N * 3 * C), s.DBias, N, 3 * C);
            Buffers.Ensure(ref s.DWeights, 3 * C * C);
            _state.MatMul.LinearBackward(N, C, 3 * C, x, C, s.DQKV, 3 * C, c.Weights, 0f, s.DWeights, dx, C, accumulateDx: true);
            for (int i = 0; i < 3; i++)
            {
                Kernels.AddInto(s.DBias.AsSpan(i * C, C), _parts[i].Bias.Grad);
                Kernels.AddInto(s.DWeights.AsSpan(i * C * C, C * C), _parts[i].Weight.Grad);
            }
        }
    }

    // Inference's query/key/value projection of n rows on the calling thread: x (n,C) → qkv (n,3C).
    public void ProjectRows(ReadOnlySpan<float> x, Span<float> qkv, int n)
    {
        int C = _hidden;
        var mm = _state.MatMul;
        using (OpProfile.Time(OpProfile.Op.QkvProjection))
        {
            if (FusedWeights(mm) is { } w)
            {
                mm.Multiply(n, x, C, w.Weight, w.Bias, qkv, 3 * C);
            }
            else
            {
                for (int i = 0; i < 3; i++) _parts[i].Forward(x, C, qkv[(i * C)..], n, packed: true, ldy: 3 * C);
            }
        }
    }

    // Inference's attention of a right-padded sequence's query rows [q0, q0 + rows) over all its keys, on
    // the calling thread: qkv (T,3C), that sequence's → context (rows,C).
    public void AttendRows(ReadOnlySpan<float> qkv, int q0, int rows, Span<float> context, int validKeys, int T)
    {
        int C = _hidden;
        using (OpProfile.Time(OpProfile.Op.Attention))
        {
            Attention.ForwardQueries(qkv[(q0 * 3 * C)..], 3 * C, rows, qkv[C..], qkv[(2 * C)..], 3 * C, context, C, default,
                1, T, _heads, _headSize, _scale, [validKeys], default, 0, 0);
        }
    }

    // Inference on a block of whole right-padded sequences already sliced out, on the calling thread:
    // x (n,C) with n = B·T → qkv (n,3C) → context (n,C).
    public void ForwardBlock(ReadOnlySpan<float> x, Span<float> qkv, Span<float> context, ReadOnlySpan<int> valid, int B, int T)
    {
        ProjectRows(x, qkv, B * T);
        using (OpProfile.Time(OpProfile.Op.Attention))
        {
            _state.MatMul.SelfAttention(qkv, context, valid, B, T, _heads, _headSize, _scale);
        }
    }

    // [CLS]-only variant for a last layer whose other rows nobody reads (classification): keys and
    // values for all N rows, the query for each sequence's row 0 only. x (N,C) → c.Context (B,C);
    // c.Q (B,C), probs (B,H,1,T).
    public void ForwardCls(float[] x, KeyMask mask, Cache c, int B, int T, DropoutStream? dropout, bool packed)
    {
        int N = B * T, C = _hidden, H = _heads;
        c.Ensure(N, C, B * H * T);
        c.Q.Ensure(B * C);
        using (OpProfile.Time(OpProfile.Op.QkvProjection))
        {
            Query.Forward(x, T * C, c.Q, B, packed);
            Key.Forward(x, C, c.QKV.AsSpan(C), N, packed, ldy: 3 * C);
            Value.Forward(x, C, c.QKV.AsSpan(2 * C), N, packed, ldy: 3 * C);
        }
        using (OpProfile.Time(OpProfile.Op.Attention))
        {
            c.Dropped = dropout is not null && _dropout > 0;
            c.Fused = false;
            c.Key = c.Dropped ? dropout!.NextKey() : 0;
            c.Offset = c.Dropped ? dropout!.Offset((long)H * T) : 0;
            var qkv = c.QKV.AsSpan(0, N * 3 * C);
            Attention.ForwardQueries(c.Q.AsSpan(0, B * C), C, 1, qkv[C..], qkv[(2 * C)..], 3 * C, c.Context, C, c.Probs.AsSpan(0, B * H * T),
                B, T, H, _headSize, _scale, mask.Valid, mask.Holes ? mask.Add.AsSpan(0, N) : default, c.Dropped ? _dropout : 0, c.Key, c.Offset);
        }
    }

    // Backward of ForwardCls: dContext (B,C) → dx (N,C) += (the query's part lands on rows b·T).
    public void BackwardCls(float[] x, Cache c, KeyMask mask, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads;
        s.Ensure(N, C);
        Buffers.Ensure(ref s.DQ, B * C);
        using (OpProfile.Time(OpProfile.Op.AttentionBackward))
        {
            var qkv = c.QKV.AsSpan(0, N * 3 * C);
            var dQkv = s.DQKV.AsSpan(0, N * 3 * C);
            Attention.BackwardQueries(c.Q.AsSpan(0, B * C), C, 1, qkv[C..], qkv[(2 * C)..], 3 * C, c.Probs, dContext, C, s.DQ, C, dQkv[C..], dQkv[(2 * C)..], 3 * C,
                B, T, H, _headSize, _scale, mask.Valid, c.Dropped ? _dropout : 0, c.Key, c.Offset);
        }
        using (OpProfile.Time(OpProfile.Op.QkvBackward))
        {
            // The query block of DQKV is not written here: only the key and value biases come from it.
            s.DBias.AsSpan(0, 3 * C).Clear();
            Kernels.BiasBackward(s.DQKV.AsSpan(0, N * 3 * C), s.DBias, N, 3 * C);
            Kernels.AddInto(s.DBias.AsSpan(C, C), Key.Bias.Grad);
            Kernels.AddInto(s.DBias.AsSpan(2 * C, C), Value.Bias.Grad);
            Key.BackwardWeights(x, C, s.DQKV.AsSpan(C), 3 * C, dx, C, N, accumulateDx: true);
            Value.BackwardWeights(x, C, s.DQKV.AsSpan(2 * C), 3 * C, dx, C, N, accumulateDx: true);
            Query.Backward(x, T * C, s.DQ, dx, T * C, B, accumulateDx: true);
        }
    }

    // qkv (N,3C) = x [Wq; Wk; Wv]ᵀ + [bq; bk; bv]: one GEMM, on the fused packed weight in inference,
    // else on this pass's copy of the weights stacked in the cache (which backward reuses).
    private void ProjectQkv(float[] x, Cache c, int N, bool packed)
    {
        int C = _hidden;
        var mm = _state.MatMul;
        if (packed && FusedWeights(mm) is { } w)
        {
            mm.Multiply(N, x, C, w.Weight, w.Bias, c.QKV, 3 * C);
            c.Stacked = false;
            return;
        }
        Buffers.Ensure(ref c.Weights, 3 * C * C);
        Buffers.Ensure(ref c.Biases, 3 * C);
        for (int i = 0; i < 3; i++)
        {
            _parts[i].Weight.Value.Data.AsSpan(0, C * C).CopyTo(c.Weights.AsSpan(i * C * C));
            _parts[i].Bias.Value.Data.AsSpan(0, C).CopyTo(c.Biases.AsSpan(i * C));
        }
        c.Stacked = true;
        mm.Multiply(false, true, N, 3 * C, C, 1f, x, C, c.Weights, C, c.Biases, 0f, c.QKV, 3 * C);
    }

    private PackedQkv? FusedWeights(MatMul mm)
    {
        if (_state.Mutable)
        {
            _packedQkv = null;
            return null;
        }
        var p = Volatile.Read(ref _packedQkv);
        if (p is null || p.Weight.Owner != mm)
        {
            int C = _hidden;
            var weight = new float[3 * C * C];
            var bias = new float[3 * C];
            for (int i = 0; i < 3; i++)
            {
                _parts[i].Weight.Value.Data.CopyTo(weight, i * C * C);
                _parts[i].Bias.Value.Data.CopyTo(bias, i * C);
            }
            // Two threads may both build it; either copy is right.
            p = new PackedQkv(mm.Prepare(weight, 3 * C, C), bias);
            Volatile.Write(ref _packedQkv, p);
        }
        return _state.Mutable ? null : p;
    }

    /// <summary>[Wq; Wk; Wv] packed for one GEMM, and [bq; bk; bv]; one object, so threads see both or neither.</summary>
    private sealed record PackedQkv(PreparedWeight Weight, float[] Bias);

    /// <summary>Activations saved for backward.</summary>
    internal sealed class Cache
    {
        public float[] Probs = [], Context = [];

        // Outputs of the query/key/value projection (oneDNN writes them fastest cache-line aligned).
        public readonly AlignedArray QKV = new(), Q = new();

        /// <summary>[Wq; Wk; Wv] (3C, C) and [bq; bk; bv] as the last unpacked forward used them.</summary>
        public float[] Weights = [], Biases = [];

        public bool Dropped, Fused, Stacked;

        /// <summary>The attention dropout's key for this pass (forward's mask, replayed in backward).</summary>
        public ulong Key;

        /// <summary>The mask index of this pass's first probability (nonzero on a data-parallel rank's slice of a batch).</summary>
        public long Offset;

        public void Ensure(int n, int c, int probs)
        {
            QKV.Ensure(n * 3 * c);
            Buffers.Ensure(ref Context, n * c);
            Buffers.Ensure(ref Probs, probs);
        }
    }

    /// <summary>Gradient buffers shared by all layers' backward passes.</summary>
    internal sealed class Scratch
    {
        public float[] DQKV = [], DQ = [], DBias = [], DWeights = [];

        public void Ensure(int n, int c)
        {
            Buffers.Ensure(ref DQKV, n * 3 * c);
            Buffers.Ensure(ref DBias, 3 * c);
        }
    }
}
