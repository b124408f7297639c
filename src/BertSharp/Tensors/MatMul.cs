namespace BertSharp.Tensors;

/// <summary>
/// A <see cref="ComputeProvider"/>'s matrix products, with <see cref="Gemm"/>'s semantics: the model's
/// layers call these rather than <see cref="Gemm"/> so that one switch moves every large product
/// of a model to another engine.
/// </summary>
internal abstract class MatMul
{
    public static MatMul Managed { get; } = new ManagedMatMul();

    public static MatMul For(ComputeProvider provider) => provider switch
    {
        ComputeProvider.Managed => Managed,
        ComputeProvider.OneDnnBf16 => Native.OneDnnMatMul.Instance
            ?? throw new InvalidOperationException($"the {provider} provider cannot run here: {ComputeProviders.UnavailableReason(provider)}"),
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, "unknown compute provider"),
    };

    public abstract ComputeProvider Provider { get; }

    public abstract string Name { get; }

    /// <summary>C = alpha·op(A)·op(B) + bias + beta·C, as <see cref="Gemm.Multiply(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, float, Span{float}, int)"/>.</summary>
    public abstract void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        float beta, Span<float> c, int ldc);

    /// <summary>
    /// A Linear layer's two backward products: dW = dyᵀ·x + dwBeta·dW (out × in, row stride in) and, unless dx
    /// is empty, dx = dy·W (rows × in, row stride lddx), added to dx when accumulateDx. A provider that
    /// converts its operands converts dy once for both.
    /// </summary>
    public virtual void LinearBackward(int rows, int inFeatures, int outFeatures, ReadOnlySpan<float> x, int ldx,
        ReadOnlySpan<float> dy, int lddy, ReadOnlySpan<float> w, float dwBeta, Span<float> dW, Span<float> dx, int lddx, bool accumulateDx)
    {
        Multiply(true, false, outFeatures, inFeatures, rows, 1f, dy, lddy, x, ldx, default, dwBeta, dW, inFeatures);
        if (!dx.IsEmpty)
            Multiply(false, false, rows, inFeatures, outFeatures, 1f, dy, lddy, w, inFeatures, default, accumulateDx ? 1f : 0f, dx, lddx);
    }

    /// <summary>W stored [n, k] (a Linear weight), made ready once for many y = x·Wᵀ products.</summary>
    public abstract PreparedWeight Prepare(ReadOnlySpan<float> w, int n, int k);

    /// <summary>
    /// y (m × n, row stride ldy) = x (m × k, row stride ldx) · Wᵀ + bias, with W from <see cref="Prepare"/>;
    /// then GELU (erf) on y when gelu, which a provider may apply as the product writes y.
    /// </summary>
    public abstract void Multiply(int m, ReadOnlySpan<float> x, int ldx, PreparedWeight w, ReadOnlySpan<float> bias, Span<float> y, int ldy, bool gelu = false);

    /// <summary>
    /// Inference's feed-forward on prepared weights, y (m × w2.N, dense) = gelu(x·W1ᵀ + b1)·W2ᵀ + b2.
    /// activations (m × w1.N) is fp32 scratch for the GELU output; a provider may keep that in its own
    /// form instead (oneDNN: bf16, the next product's operand, never written in fp32).
    /// </summary>
    public virtual void FeedForward(int m, ReadOnlySpan<float> x, int ldx, PreparedWeight w1, ReadOnlySpan<float> b1,
        PreparedWeight w2, ReadOnlySpan<float> b2, Span<float> y, Span<float> activations)
    {
        Multiply(m, x, ldx, w1, b1, activations, w1.N, gelu: true);
        Multiply(m, activations, w1.N, w2, b2, y, w2.N);
    }

    /// <summary>
    /// <see cref="Attention.Forward"/> on whole right-padded sequences: qkv (batch·seq × 3·heads·headDim)
    /// holds q, k and v side by side, context (batch·seq × heads·headDim) receives the heads' outputs,
    /// validKeys[b] is the number of real tokens of sequence b, probs (batch, heads, seq, seq) receives
    /// the probabilities when given, and dropout/dropoutKey/dropoutOffset select the dropout mask. Inside a worker
    /// loop's task it runs on the calling thread.
    /// </summary>
    public virtual void SelfAttention(ReadOnlySpan<float> qkv, Span<float> context, ReadOnlySpan<int> validKeys,
        int batch, int seq, int heads, int headDim, float scale, Span<float> probs = default, float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0)
    {
        int c = heads * headDim;
        Attention.Forward(qkv, qkv[c..], qkv[(2 * c)..], 3 * c, context, c, probs, batch, seq, heads, headDim, scale, validKeys, dropout, dropoutKey, dropoutOffset);
    }

    /// <summary>
    /// <see cref="Attention.Backward"/> for <see cref="SelfAttention"/>: dQkv (the layout of qkv) receives
    /// dq, dk and dv, written, not accumulated.
    /// </summary>
    public virtual void SelfAttentionBackward(ReadOnlySpan<float> qkv, ReadOnlySpan<float> probs, ReadOnlySpan<float> dContext, Span<float> dQkv,
        ReadOnlySpan<int> validKeys, int batch, int seq, int heads, int headDim, float scale, float dropout = 0, ulong dropoutKey = 0, long dropoutOffset = 0)
    {
        int c = heads * headDim;
        Attention.Backward(qkv, qkv[c..], qkv[(2 * c)..], 3 * c, probs, dContext, c, dQkv, dQkv[c..], dQkv[(2 * c)..], 3 * c,
            batch, seq, heads, headDim, scale, validKeys, dropout, dropoutKey, dropoutOffset);
    }
}

/// <summary>A weight in the layout one <see cref="MatMul"/> reads fastest; only that provider can use it.</summary>
internal abstract class PreparedWeight(MatMul owner, int n, int k)
{
    public MatMul Owner { get; } = owner;
    public int N { get; } = n;
    public int K { get; } = k;
}
