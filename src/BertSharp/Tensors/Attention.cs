namespace BertSharp.Tensors;

/// <summary>
/// Fused multi-head scaled dot-product attention over activations laid out [tokens, hidden]
/// (tokens = batch · seq, row stride ld), where head h occupies columns [h·headDim, (h+1)·headDim).
/// Per (batch b, head h): P = softmax(scale · Q Kᵀ) over the first validKeys[b] keys, and
/// context = P · V. Keys at or past validKeys[b] (right padding) are skipped, which equals an
/// additive mask of −∞ there: they get probability 0 and no work. Padded query rows are still
/// computed (they attend to the real keys), as in Hugging Face's BERT.
/// </summary>
/// <remarks>
/// The (batch, head) pairs run in parallel, each with single-threaded GEMMs on packed panels.
/// q, k and v may be column slices of one fused [tokens, 3·hidden] QKV buffer (same ld).
/// </remarks>
internal static unsafe class Attention
{
    [ThreadStatic] private static AlignedBuffer? scratch;

    /// <summary>
    /// context[b·seq + i, h·headDim + d] = Σ_j P[b,h,i,j] · v[b·seq + j, h·headDim + d].
    /// probs is either empty or [batch, heads, seq, seq]; when given it receives P (zeros for
    /// padded keys), which <see cref="Backward"/> needs and which can be shown to users.
    /// </summary>
    public static void Forward(
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        Span<float> context, int ldContext, Span<float> probs,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys)
    {
        Check(q.Length, k.Length, v.Length, ld, batch, seq, heads, headDim, validKeys);
        Gemm.CheckMatrix("context", context.Length, batch * seq, heads * headDim, ldContext);
        if (!probs.IsEmpty) Kernels.Need(probs.Length, batch * heads * seq, seq, nameof(probs));
        if (batch == 0 || seq == 0 || heads == 0) return;
        fixed (float* pq = q, pk = k, pv = v, pc = context, pp = probs)
        fixed (int* pl = validKeys)
        {
            var job = new Job
            {
                Q = pq,
                K = pk,
                V = pv,
                Ld = ld,
                C = pc,
                LdC = ldContext,
                P = probs.IsEmpty ? null : pp,
                Seq = seq,
                Heads = heads,
                HeadDim = headDim,
                Scale = scale,
                Valid = pl,
            };
            Run(batch * heads, job, &ForwardOne);
        }
    }

    /// <summary>
    /// Gradients of <see cref="Forward"/> given dContext and the saved probs: dq, dk and dv are
    /// written (not accumulated) at the same positions as q, k and v (row stride ldGrad); rows of
    /// padded keys get zero dk and dv.
    /// </summary>
    public static void Backward(
        ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int ld,
        ReadOnlySpan<float> probs, ReadOnlySpan<float> dContext, int ldContext,
        Span<float> dq, Span<float> dk, Span<float> dv, int ldGrad,
        int batch, int seq, int heads, int headDim, float scale, ReadOnlySpan<int> validKeys)
    {
        Check(q.Length, k.Length, v.Length, ld, batch, seq, heads, headDim, validKeys);
        Kernels.Need(probs.Length, batch * heads * seq, seq, nameof(probs));
        Gemm.CheckMatrix("dContext", dContext.Length, batch * seq, heads * headDim, ldContext);
        Gemm.CheckMatrix("dq", dq.Length, batch * seq, heads * headDim, ldGrad);
        Gemm.CheckMatrix("dk", dk.Length, batch * seq, heads * headDim, ldGrad);
        Gemm.CheckMatrix("dv", dv.Length, batch * seq, heads * headDim, ldGrad);
        if (batch == 0 || seq == 0 || heads == 0) return;
        fixed (float* pq = q, pk = k, pv = v, pp = probs, pdc = dContext, pdq = dq, pdk = dk, pdv = dv)
        fixed (int* pl = validKeys)
        {
            var job = new Job
            {
                Q = pq,
                K = pk,
                V = pv,
                Ld = ld,
                C = pdc,
                LdC = ldContext,
                P = pp,
                DQ = pdq,
                DK = pdk,
                DV = pdv,
                LdG = ldGrad,
                Seq = seq,
                Heads = heads,
                HeadDim = headDim,
                Scale = scale,
                Valid = pl,
            };
            Run(batch * heads, job, &BackwardOne);
        }
    }

    private static void Check(int q, int k, int v, int ld, int batch, int seq, int heads, int headDim, ReadOnlySpan<int> validKeys)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(seq);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        Gemm.CheckMatrix("q", q, batch * seq, heads * headDim, ld);
        Gemm.CheckMatrix("k", k, batch * seq, heads * headDim, ld);
        Gemm.CheckMatrix("v", v, batch * seq, heads * headDim, ld);
        if (validKeys.Length < batch)
            throw new ArgumentException($"validKeys holds {validKeys.Length} lengths for a batch of {batch}", nameof(validKeys));
        for (int b = 0; b < batch; b++)
            if (validKeys[b] < 1 || validKeys[b] > seq)
                throw new ArgumentOutOfRangeException(nameof(validKeys), validKeys[b], $"validKeys[{b}] must be in [1, {seq}]");
    }

    private struct Job
    {
        public float* Q, K, V, C, P, DQ, DK, DV;
        public int Ld, LdC, LdG, Seq, Heads, HeadDim;
        public float Scale;
        public int* Valid;
    }

    [ThreadStatic] private static Runner? runner;

    private static void Run(int count, Job job, delegate*<ref Job, int, void> one)
    {
        var r = runner ??= new Runner();
        r.Job = job;
        r.Fn = (nint)one;
        WorkerPool.For(count, Gemm.MaxThreads, r.Body);
    }

    // Per calling thread, so concurrent callers never share one.
    private sealed class Runner
    {
        public readonly Action<int> Body;
        public Job Job;
        public nint Fn;

        public Runner() => Body = Run;

        private void Run(int t)
        {
            var local = Job;
            ((delegate*<ref Job, int, void>)Fn)(ref local, t);
        }
    }

    private static void ForwardOne(ref Job j, int t)
    {
        int b = t / j.Heads, h = t % j.Heads, seq = j.Seq, dh = j.HeadDim, keys = j.Valid[b];
        long at = (long)b * seq * j.Ld + (long)h * dh;
        float* p = j.P != null ? j.P + (long)t * seq * seq : (scratch ??= new AlignedBuffer()).Get((long)seq * seq);
        Gemm.Run(false, true, seq, keys, dh, j.Scale, j.Q + at, j.Ld, j.K + at, j.Ld, null, 0, p, seq, serial: true);
        for (int i = 0; i < seq; i++)
        {
            float* row = p + (long)i * seq;
            Kernels.SoftmaxRow(row, keys, 1, null);
            new Span<float>(row + keys, seq - keys).Clear();
        }
        float* c = j.C + (long)b * seq * j.LdC + (long)h * dh;
        Gemm.Run(false, false, seq, dh, keys, 1, p, seq, j.V + at, j.Ld, null, 0, c, j.LdC, serial: true);
    }

    private static void BackwardOne(ref Job j, int t)
    {
        int b = t / j.Heads, h = t % j.Heads, seq = j.Seq, dh = j.HeadDim, keys = j.Valid[b];
        long at = (long)b * seq * j.Ld + (long)h * dh;
        long atG = (long)b * seq * j.LdG + (long)h * dh;
        float* p = j.P + (long)t * seq * seq;
        float* dc = j.C + (long)b * seq * j.LdC + (long)h * dh;
        float* dv = j.DV + atG, dk = j.DK + atG, dq = j.DQ + atG;

        // dV = Pᵀ·dC over the real keys.
        Gemm.Run(true, false, keys, dh, seq, 1, p, seq, dc, j.LdC, null, 0, dv, j.LdG, serial: true);
        // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), with dP = dC·Vᵀ.
        float* ds = (scratch ??= new AlignedBuffer()).Get((long)seq * seq);
        Gemm.Run(false, true, seq, keys, dh, 1, dc, j.LdC, j.V + at, j.Ld, null, 0, ds, seq, serial: true);
        for (int i = 0; i < seq; i++)
            Kernels.SoftmaxBackwardRow(p + (long)i * seq, ds + (long)i * seq, ds + (long)i * seq, keys, j.Scale);
        // dQ = dS·K, dK = dSᵀ·Q.
        Gemm.Run(false, false, seq, dh, keys, 1, ds, seq, j.K + at, j.Ld, null, 0, dq, j.LdG, serial: true);
        Gemm.Run(true, false, keys, dh, seq, 1, ds, seq, j.Q + at, j.Ld, null, 0, dk, j.LdG, serial: true);
        for (int i = keys; i < seq; i++)
        {
            new Span<float>(dk + (long)i * j.LdG, dh).Clear();
            new Span<float>(dv + (long)i * j.LdG, dh).Clear();
        }
    }
}
