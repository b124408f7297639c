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
/// With right padding the fused <see cref="Attention"/> kernel runs, dropout included (its mask is
/// rebuilt in backward from the call's key, so training stores only the probabilities). Masks with
/// holes (and the [CLS]-only last layer) run the same per-head steps here with the additive mask.
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
        c.Ensure(N, C, keepProbs || !c.Fused ? B * H * T * T : 0);
        long t0 = OpProfile.Start();
        ProjectQkv(x, c, N, packed);
        OpProfile.Stop(OpProfile.Op.QkvProjection, t0);
        t0 = OpProfile.Start();
        if (c.Fused)
        {
            _state.MatMul.SelfAttention(c.QKV, c.Context, mask.Valid, B, T, H, d, _scale,
                keepProbs ? c.Probs.AsSpan(0, B * H * T * T) : default, c.Dropped ? _dropout : 0, c.Key);
        }
        else
        {
            var job = c.Heads.Set(this, mask, c, T, queryRows: T, c.QKV, qBatch: T * 3 * C, ldq: 3 * C, ctxBatch: T * C);
            WorkerPool.For(B * H, WorkerPool.Threads(B * H * Attention.PairFlops(T, d), Gemm.ParallelGrainFlops), job.ForwardBody);
        }
        OpProfile.Stop(OpProfile.Op.Attention, t0);
    }

    // dContext (N,C) → dx (N,C) += (dx holds the residual branch's gradient already).
    public void Backward(float[] x, Cache c, KeyMask mask, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads, d = _headSize;
        s.Ensure(N, C, c.Fused ? 0 : B * H * T * T);
        long t0 = OpProfile.Start();
        if (c.Fused)
        {
            _state.MatMul.SelfAttentionBackward(c.QKV, c.Probs, dContext, s.DQKV, mask.Valid, B, T, H, d, _scale,
                c.Dropped ? _dropout : 0, c.Key);
        }
        else
        {
            var job = c.Heads.Set(this, mask, c, T, queryRows: T, c.QKV, qBatch: T * 3 * C, ldq: 3 * C, ctxBatch: T * C);
            job.SetBackward(dContext, s.DQKV, s.DQKV, s.DProbs);
            WorkerPool.For(B * H, WorkerPool.Threads(2 * B * H * Attention.PairFlops(T, d), Gemm.ParallelGrainFlops), job.BackwardBody);
        }
        OpProfile.Stop(OpProfile.Op.AttentionBackward, t0);
        t0 = OpProfile.Start();
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
        OpProfile.Stop(OpProfile.Op.QkvBackward, t0);
    }

    // Inference on a block of whole right-padded sequences already sliced out, on the calling thread:
    // x (n,C) with n = B·T → qkv (n,3C) → context (n,C).
    public void ForwardBlock(ReadOnlySpan<float> x, Span<float> qkv, Span<float> context, ReadOnlySpan<int> valid, int B, int T)
    {
        int N = B * T, C = _hidden;
        var mm = _state.MatMul;
        long t0 = OpProfile.Start();
        if (FusedWeights(mm) is { } w)
        {
            mm.Multiply(N, x, C, w.Weight, w.Bias, qkv, 3 * C);
        }
        else
        {
            for (int i = 0; i < 3; i++) _parts[i].Forward(x, C, qkv[(i * C)..], N, packed: true, ldy: 3 * C);
        }
        OpProfile.Stop(OpProfile.Op.QkvProjection, t0);
        t0 = OpProfile.Start();
        mm.SelfAttention(qkv, context, valid, B, T, _heads, _headSize, _scale);
        OpProfile.Stop(OpProfile.Op.Attention, t0);
    }

    // [CLS]-only variant for a last layer whose other rows nobody reads (classification): keys and
    // values for all N rows, the query for each sequence's row 0 only. x (N,C) → c.Context (B,C);
    // c.Q (B,C), probs (B,H,1,T).
    public void ForwardCls(float[] x, KeyMask mask, Cache c, int B, int T, DropoutStream? dropout, bool packed)
    {
        int N = B * T, C = _hidden, H = _heads;
        c.Ensure(N, C, B * H * T);
        c.Q.Ensure(B * C);
        long t0 = OpProfile.Start();
        Query.Forward(x, T * C, c.Q, B, packed);
        Key.Forward(x, C, c.QKV.AsSpan(C), N, packed, ldy: 3 * C);
        Value.Forward(x, C, c.QKV.AsSpan(2 * C), N, packed, ldy: 3 * C);
        OpProfile.Stop(OpProfile.Op.QkvProjection, t0);
        t0 = OpProfile.Start();
        c.Dropped = dropout is not null && _dropout > 0;
        c.Fused = false;
        c.Key = c.Dropped ? dropout!.NextKey() : 0;
        var job = c.Heads.Set(this, mask, c, T, queryRows: 1, c.Q, qBatch: C, ldq: C, ctxBatch: C);
        WorkerPool.For(B * H, WorkerPool.Threads(B * H * Attention.PairFlops(T, _headSize) / T, Gemm.ParallelGrainFlops), job.ForwardBody);
        OpProfile.Stop(OpProfile.Op.Attention, t0);
    }

    // Backward of ForwardCls: dContext (B,C) → dx (N,C) += (the query's part lands on rows b·T).
    public void BackwardCls(float[] x, Cache c, KeyMask mask, float[] dContext, float[] dx, Scratch s, int B, int T)
    {
        int N = B * T, C = _hidden, H = _heads;
        s.Ensure(N, C, B * H * T);
        Buffers.Ensure(ref s.DQ, B * C);
        long t0 = OpProfile.Start();
        var job = c.Heads.Set(this, mask, c, T, queryRows: 1, c.Q, qBatch: C, ldq: C, ctxBatch: C);
        job.SetBackward(dContext, s.DQ, s.DQKV, s.DProbs);
        WorkerPool.For(B * H, WorkerPool.Threads(2 * B * H * Attention.PairFlops(T, _headSize) / T, Gemm.ParallelGrainFlops), job.BackwardBody);
        OpProfile.Stop(OpProfile.Op.AttentionBackward, t0);
        t0 = OpProfile.Start();
        // The query block of DQKV is not written here: only the key and value biases come from it.
        s.DBias.AsSpan(0, 3 * C).Clear();
        Kernels.BiasBackward(s.DQKV.AsSpan(0, N * 3 * C), s.DBias, N, 3 * C);
        Kernels.AddInto(s.DBias.AsSpan(C, C), Key.Bias.Grad);
        Kernels.AddInto(s.DBias.AsSpan(2 * C, C), Value.Bias.Grad);
        Key.BackwardWeights(x, C, s.DQKV.AsSpan(C), 3 * C, dx, C, N, accumulateDx: true);
        Value.BackwardWeights(x, C, s.DQKV.AsSpan(2 * C), 3 * C, dx, C, N, accumulateDx: true);
        Query.Backward(x, T * C, s.DQ, dx, T * C, B, accumulateDx: true);
        OpProfile.Stop(OpProfile.Op.QkvBackward, t0);
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
        public float[] Probs = [], Mask = [], DroppedProbs = [], Context = [];

        // Outputs of the query/key/value projection (oneDNN writes them fastest cache-line aligned).
        public readonly AlignedArray QKV = new(), Q = new();

        /// <summary>[Wq; Wk; Wv] (3C, C) and [bq; bk; bv] as the last unpacked forward used them.</summary>
        public float[] Weights = [], Biases = [];

        public bool Dropped, Fused, Stacked;

        /// <summary>The attention dropout's key for this pass (forward's mask, replayed in backward).</summary>
        public ulong Key;

        public HeadJob Heads { get; } = new();

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
        public float[] DQKV = [], DQ = [], DProbs = [], DBias = [], DWeights = [];

        public void Ensure(int n, int c, int probs)
        {
            Buffers.Ensure(ref DQKV, n * 3 * c);
            Buffers.Ensure(ref DProbs, probs);
            Buffers.Ensure(ref DBias, 3 * c);
        }
    }

    /// <summary>
    /// One (sequence, head) pair of attention with dropout and the additive mask, run for all pairs
    /// on the worker pool through delegates made once per cache (no allocation per call).
    /// </summary>
    internal sealed class HeadJob
    {
        public readonly Action<int> ForwardBody, BackwardBody;
        private ulong _key;
        private AlignedArray _q = null!, _qkv = null!;
        private float[] _probs = [], _mask = [], _dropped = [], _context = [], _add = [];
        private float[] _dContext = [], _dq = [], _dqkv = [], _dProbs = [];
        private int[] _valid = [];
        private bool _holes, _isDropped;
        private int _t, _rows, _qBatch, _ldq, _ctxBatch, _c, _h, _d;
        private float _scale, _p;

        public HeadJob()
        {
            ForwardBody = Forward;
            BackwardBody = Backward;
        }

        // q: the queries (queryRows per sequence, sequence b at b·qBatch, row stride ldq); keys and
        // values from the cache's QKV; context (and dContext) sequence b at b·ctxBatch, stride C.
        public HeadJob Set(BertSelfAttention a, KeyMask mask, Cache c, int T, int queryRows, AlignedArray q, int qBatch, int ldq, int ctxBatch)
        {
            (_c, _h, _d, _scale, _p) = (a._hidden, a._heads, a._headSize, a._scale, a._dropout);
            (_t, _rows, _q, _qBatch, _ldq, _ctxBatch) = (T, queryRows, q, qBatch, ldq, ctxBatch);
            (_qkv, _probs, _context, _isDropped, _key) = (c.QKV, c.Probs, c.Context, c.Dropped, c.Key);
            (_valid, _add, _holes) = (mask.Valid, mask.Add, mask.Holes);
            int n = c.Probs.Length;
            if (c.Dropped)
            {
                Buffers.Ensure(ref c.Mask, n);
                Buffers.Ensure(ref c.DroppedProbs, n);
            }
            (_mask, _dropped) = (c.Mask, c.DroppedProbs);
            return this;
        }

        // dq: the queries' gradient, laid out as q; dqkv receives dk and dv (stride 3C).
        public void SetBackward(float[] dContext, float[] dq, float[] dqkv, float[] dProbs) =>
            (_dContext, _dq, _dqkv, _dProbs) = (dContext, dq, dqkv, dProbs);

        private void Forward(int t)
        {
            int b = t / _h, h = t % _h, T = _t, rows = _rows, d = _d, ld = 3 * _c, keys = _valid[b];
            int qOff = b * _qBatch + h * d, kOff = b * T * ld + _c + h * d, vOff = kOff + _c, region = rows * T;
            var probs = _probs.AsSpan(t * region, region);
            // scores (rows, keys) = scale · q kᵀ, then the masked softmax; skipped keys get probability 0.
            Gemm.Multiply(false, true, rows, keys, d, _scale, _q.AsSpan(qOff), _ldq, _qkv.AsSpan(kOff), ld, 0f, probs, T);
            ReadOnlySpan<float> add = _holes ? _add.AsSpan(b * T, keys) : default;
            if (keys == T)
            {
                Kernels.ScaledMaskedSoftmax(probs, rows, T, 1f, add);
            }
            else
            {
                for (int i = 0; i < rows; i++)
                {
                    Kernels.ScaledMaskedSoftmax(probs.Slice(i * T, keys), 1, keys, 1f, add);
                    probs.Slice(i * T + keys, T - keys).Clear();
                }
            }
            ReadOnlySpan<float> used = probs;
            if (_isDropped)
            {
                var dropped = _dropped.AsSpan(t * region, region);
                Dropout.Forward(probs, dropped, _mask.AsSpan(t * region, region), _p, _key, (long)t * region);
                used = dropped;
            }
            // context (rows, d) = P v
            Gemm.Multiply(false, false, rows, d, keys, 1f, used, T, _qkv.AsSpan(vOff), ld, 0f, _context.AsSpan(b * _ctxBatch + h * d), _c);
        }

        private void Backward(int t)
        {
            int b = t / _h, h = t % _h, T = _t, rows = _rows, d = _d, ld = 3 * _c, keys = _valid[b];
            int qOff = b * _qBatch + h * d, kOff = b * T * ld + _c + h * d, vOff = kOff + _c, region = rows * T;
            var probs = _probs.AsSpan(t * region, region);
            ReadOnlySpan<float> used = _isDropped ? _dropped.AsSpan(t * region, region) : probs;
            var dP = _dProbs.AsSpan(t * region, region);
            var dCtx = _dContext.AsSpan(b * _ctxBatch + h * d);
            // dP_used (rows, keys) = dCtx vᵀ; dv (keys, d) = P_usedᵀ dCtx
            Gemm.Multiply(false, true, rows, keys, d, 1f, dCtx, _c, _qkv.AsSpan(vOff), ld, 0f, dP, T);
            Gemm.Multiply(true, false, keys, d, rows, 1f, used, T, dCtx, _c, 0f, _dqkv.AsSpan(vOff), ld);
            // The additive mask is a constant and takes no gradient.
            if (keys == T)
            {
                if (_isDropped) Dropout.Backward(dP, _mask.AsSpan(t * region, region), dP);
                Kernels.SoftmaxRowsBackward(probs, dP, dP, rows, T);
            }
            else
            {
                for (int i = 0; i < rows; i++)
                {
                    var row = dP.Slice(i * T, keys);
                    if (_isDropped) Dropout.Backward(row, _mask.AsSpan(t * region + i * T, keys), row);
                    Kernels.SoftmaxRowsBackward(probs.Slice(i * T, keys), row, row, 1, keys);
                }
            }
            // dq = scale · dS k; dk (keys, d) = scale · dSᵀ q
            Gemm.Multiply(false, false, rows, d, keys, _scale, dP, T, _qkv.AsSpan(kOff), ld, 0f, _dq.AsSpan(qOff), _ldq);
            Gemm.Multiply(true, false, keys, d, rows, _scale, dP, T, _q.AsSpan(qOff), _ldq, 0f, _dqkv.AsSpan(kOff), ld);
            for (int j = keys; j < T; j++)
            {
                _dqkv.AsSpan(kOff + j * ld, d).Clear();
                _dqkv.AsSpan(vOff + j * ld, d).Clear();
            }
        }
    }
}
