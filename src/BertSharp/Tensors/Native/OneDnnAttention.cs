namespace BertSharp.Tensors.Native;

/// <summary>
/// Multi-head attention's per-head products on oneDNN, batched over a group of heads of one
/// sequence: each sequence's q, k and v (and in backward dContext) are split head-major into bf16,
/// the products run on AMX with fp32 results, and the softmax, dropout mask and softmax backward stay
/// on the managed kernels between them. Same contract as <see cref="Attention"/> (right padding:
/// keys from validKeys[b] on get probability 0 and zero gradients), with PyTorch autocast's
/// precision split: bf16 operands, fp32 accumulation, softmax and saved probabilities.
/// </summary>
/// <remarks>
/// Sequences run in parallel, each with single-threaded products (inside inference's blocked layer,
/// which already owns the threads, serially); fewer sequences than cores split each one's heads
/// into pieces that run in parallel too (<see cref="Pieces"/>). Without saved probabilities or dropout (inference)
/// the softmax writes bf16 probabilities directly (<see cref="Kernels.SoftmaxRowsToBf16"/>).
/// </remarks>
internal sealed unsafe class OneDnnAttention(OneDnnMatMul provider)
{
    [ThreadStatic] private static Scratch? threadScratch;
    [ThreadStatic] private static Job? threadJob;

    // What one batched product computes; g heads of one sequence, t tokens, head size d:
    // Scores (g,t,t) = A (g,t,d) · Bᵀ, B (g,t,d) read transposed   (scores = Q·Kᵀ, dP = dC·Vᵀ)
    // Context: the context rows (t, ld) += nothing, = P (g,t,t) · V (g,t,d), written in place
    // Product (g,t,d) = A (g,t,t) · B (g,t,d), dense                 (dQ = dS·K)
    // TransposedProduct (g,t,d) = Aᵀ · B, A (g,t,t) read transposed (dV = Pᵀ·dC, dK = dSᵀ·Q)
    internal enum Kind
    {
        Scores,
        Context,
        Product,
        TransposedProduct,
    }

    /// <summary>
    /// As <see cref="Attention.Forward"/> on a fused (batch·seq × 3·heads·headDim) qkv buffer, context
    /// dense (batch·seq × heads·headDim); probs (batch, heads, seq, seq) fp32 or empty; each sequence in
    /// <paramref name="pieces"/> tasks (<see cref="Pieces"/>).
    /// </summary>
    public void Forward(float* qkv, float* context, float* probs, int* valid, int batch, int seq, int heads, int headDim, int pieces,
        float scale, float dropout, ulong key, long offset)
    {
        var job = threadJob ??= new Job();
        job.Set(this, qkv, context, probs, null, null, valid, seq, heads, headDim, pieces, scale, dropout, key, offset);
        WorkerPool.For(batch * job.Pieces, WorkerPool.Threads(4L * batch * heads * seq * seq * headDim, Gemm.ParallelGrainFlops), job.ForwardBody);
    }

    /// <summary>
    /// As <see cref="Attention.Backward"/>: dQkv (same layout as qkv) receives dq, dk and dv (written,
    /// not accumulated) from the saved probs and dContext (batch·seq × heads·headDim).
    /// </summary>
    public void Backward(float* qkv, float* probs, float* dContext, float* dQkv, int* valid, int batch, int seq, int heads, int headDim, int pieces,
        float scale, float dropout, ulong key, long offset)
    {
        var job = threadJob ??= new Job();
        job.Set(this, qkv, null, probs, dContext, dQkv, valid, seq, heads, headDim, pieces, scale, dropout, key, offset);
        WorkerPool.For(batch * job.Pieces, WorkerPool.Threads(8L * batch * heads * seq * seq * headDim, Gemm.ParallelGrainFlops), job.BackwardBody);
    }

    // Task = (sequence b, piece of its heads [first, end)).
    private void ForwardPiece(Job j, int task)
    {
        int t = j.Seq, H = j.Heads, d = j.HeadDim, c = H * d, b = task / j.Pieces, keys = j.Valid[b];
        var (first, end) = Piece(H, j.Pieces, task % j.Pieces);
        int group = Group(t, H);
        long headBlock = (long)t * d, scoreBlock = (long)t * t;
        var s = threadScratch ??= new Scratch();
        ushort* q = s.Heads(3L * H * headBlock), k = q + H * headBlock, v = k + H * headBlock;
        ushort* used = s.Probabilities(group * scoreBlock);
        bool inference = j.Probs == null && j.Dropout == 0;
        Bf16.SplitHeads(j.Qkv + (long)b * t * 3 * c, t, keys, 3, H, d, first, end, q);
        for (int h0 = first; h0 < end; h0 += group)
        {
            int g = Math.Min(group, end - h0);
            // Saved probabilities are the scores' own destination; inference's live in scratch.
            float* p = j.Probs != null ? j.Probs + ((long)b * H + h0) * scoreBlock : s.Scores(group * scoreBlock);
            provider.Attention(Kind.Scores, g, t, d, 0, q + h0 * headBlock, k + h0 * headBlock, p);
            if (inference)
            {
                Kernels.SoftmaxRowsToBf16(p, g * t, keys, t, j.Scale, used);
            }
            else
            {
                float* mask = s.Mask(t);
                for (long r = 0; r < g * t; r++)
                {
                    float* row = p + r * t;
                    Kernels.SoftmaxRow(row, keys, j.Scale, null);
                    new Span<float>(row + keys, t - keys).Clear();
                    if (j.Dropout > 0) DropoutMask.Fill(mask, keys, j.Dropout, j.Key, j.Offset + ((long)b * H + h0) * scoreBlock + r * t);
                    Dropped(row, j.Dropout > 0 ? mask : null, keys, t, used + r * t);
                }
            }
            provider.Attention(Kind.Context, g, t, d, c, used, v + h0 * headBlock, j.Context + (long)b * t * c + h0 * d);
        }
    }

    private void BackwardPiece(Job j, int task)
    {
        int t = j.Seq, H = j.Heads, d = j.HeadDim, c = H * d, b = task / j.Pieces, keys = j.Valid[b];
        var (first, end) = Piece(H, j.Pieces, task % j.Pieces);
        int group = Group(t, H);
        long headBlock = (long)t * d, scoreBlock = (long)t * t;
        var s = threadScratch ??= new Scratch();
        ushort* q = s.Heads(4L * H * headBlock), k = q + H * headBlock, v = k + H * headBlock, dc = v + H * headBlock;
        ushort* used = s.Probabilities(2 * group * scoreBlock), ds16 = used + group * scoreBlock;
        float* ds = s.Scores(group * scoreBlock), grad = s.Gradient(group * headBlock), mask = s.Mask(t);
        float* rows = j.Qkv + (long)b * t * 3 * c, dRows = j.DQkv + (long)b * t * 3 * c;
        Bf16.SplitHeads(rows, t, keys, 3, H, d, first, end, q);
        Bf16.SplitHeads(j.DContext + (long)b * t * c, t, t, 1, H, d, first, end, dc);
        for (int h0 = first; h0 < end; h0 += group)
        {
            int g = Math.Min(group, end - h0);
            long at = ((long)b * H + h0) * scoreBlock;
            float* p = j.Probs + at;
            // dP = dC·Vᵀ; then per row, with the forward's mask M rebuilt once: used = P ⊙ M (what
            // forward multiplied V by) and dS = scale · P ⊙ (dP ⊙ M − rowsum(dP ⊙ M ⊙ P)) over the
            // real keys, 0 past them.
            provider.Attention(Kind.Scores, g, t, d, 0, dc + h0 * headBlock, v + h0 * headBlock, ds);
            for (long r = 0; r < g * t; r++)
            {
                float* row = ds + r * t, pr = p + r * t;
                if (j.Dropout > 0)
                {
                    DropoutMask.Fill(mask, keys, j.Dropout, j.Key, j.Offset + at + r * t);
                    Tensors.Attention.Multiply(row, mask, row, keys);
                }
                Dropped(pr, j.Dropout > 0 ? mask : null, keys, t, used + r * t);
                Kernels.SoftmaxBackwardRow(pr, row, row, keys, j.Scale);
                new Span<float>(row + keys, t - keys).Clear();
            }
            Bf16.ConvertRows(ds, 0, g * t, t, t, ds16);
            // dV = usedᵀ·dC, dQ = dS·K, dK = dSᵀ·Q (rows of padded keys are 0: used and dS are 0 in their columns).
            provider.Attention(Kind.TransposedProduct, g, t, d, 0, used, dc + h0 * headBlock, grad);
            Scatter(grad, g, t, d, dRows + 2 * c + h0 * d, 3 * c);
            provider.Attention(Kind.Product, g, t, d, 0, ds16, k + h0 * headBlock, grad);
            Scatter(grad, g, t, d, dRows + h0 * d, 3 * c);
            provider.Attention(Kind.TransposedProduct, g, t, d, 0, ds16, q + h0 * headBlock, grad);
            Scatter(grad, g, t, d, dRows + c + h0 * d, 3 * c);
        }
    }

    // Heads per product: a group's fp32 scores stay within about a megabyte (L2) however long the sequence.
    internal static int Group(int seq, int heads) => Math.Clamp((1 << 18) / (seq * seq), 1, heads);

    // Pieces per sequence: with fewer sequences than cores (a single request) each one's heads are
    // split so that every core gets a piece. Unsplit, a lone sequence's attention ran on one thread
    // (0.4 ms a layer at 128 tokens) while the other core's helper fell asleep, to be woken late for
    // the next product. From the shape and the core count only, never the threads a call gets, so
    // that results are the same bits however many threads run them.
    internal static int Pieces(int batch, int heads) =>
        batch >= Environment.ProcessorCount ? 1 : Math.Min(heads, (Environment.ProcessorCount + batch - 1) / batch);

    // Heads [first, end) of piece p of `pieces`.
    internal static (int First, int End) Piece(int heads, int pieces, int p) => (heads * p / pieces, heads * (p + 1) / pieces);

    // The head counts of every product a sequence's attention runs: whole groups and what is left of each piece.
    internal static IEnumerable<int> GroupSizes(int seq, int heads, int pieces)
    {
        int group = Group(seq, heads);
        var sizes = new HashSet<int>();
        for (int p = 0; p < pieces; p++)
        {
            var (first, end) = Piece(heads, pieces, p);
            for (int h0 = first; h0 < end; h0 += group) sizes.Add(Math.Min(group, end - h0));
        }
        return sizes;
    }

    // dst = bf16(row ⊙ mask) over the keys, 0 past them (bf16(row) without a mask; row is 0 there).
    // A mask is overwritten.
    private static void Dropped(float* row, float* mask, int keys, int t, ushort* dst)
    {
        if (mask == null)
        {
            Bf16.ConvertRow(row, t, dst);
            return;
        }
        Tensors.Attention.Multiply(mask, row, mask, keys);
        Bf16.ConvertRow(mask, keys, dst);
        new Span<ushort>(dst + keys, t - keys).Clear();
    }

    // A dense (g, t, d) result to head columns h·d of t rows with stride ld.
    private static void Scatter(float* src, int g, int t, int d, float* dst, int ld)
    {
        for (int h = 0; h < g; h++)
            for (int i = 0; i < t; i++)
                new ReadOnlySpan<float>(src + ((long)h * t + i) * d, d).CopyTo(new Span<float>(dst + (long)i * ld + h * d, d));
    }

    private sealed class Job
    {
        public readonly Action<int> ForwardBody, BackwardBody;
        public float* Qkv, Context, Probs, DContext, DQkv;
        public int* Valid;
        public int Seq, Heads, HeadDim, Pieces;
        public float Scale, Dropout;
        public ulong Key;
        public long Offset;
        private OneDnnAttention _owner = null!;

        public Job()
        {
            ForwardBody = task => _owner.ForwardPiece(this, task);
            BackwardBody = task => _owner.BackwardPiece(this, task);
        }

        public void Set(OneDnnAttention owner, float* qkv, float* context, float* probs, float* dContext, float* dQkv, int* valid,
            int seq, int heads, int headDim, int pieces, float scale, float dropout, ulong key, long offset)
        {
            _owner = owner;
            Qkv = qkv;
            Context = context;
            Probs = probs;
            DContext = dContext;
            DQkv = dQkv;
            Valid = valid;
            (Seq, Heads, HeadDim, Pieces, Scale, Dropout, Key, Offset) = (seq, heads, headDim, pieces, scale, dropout, key, offset);
        }
    }

    // Per thread: sequences (or pieces) run on several.
    private sealed class Scratch
    {
        private readonly AlignedBuffer _heads = new(), _probabilities = new(), _scores = new(), _gradient = new(), _mask = new();

        public ushort* Heads(long elements) => (ushort*)_heads.Get((elements + 1) / 2);
        public ushort* Probabilities(long elements) => (ushort*)_probabilities.Get((elements + 1) / 2);
        public float* Scores(long elements) => _scores.Get(elements);
        public float* Gradient(long elements) => _gradient.Get(elements);
        public float* Mask(int elements) => _mask.Get(elements);
    }
}
