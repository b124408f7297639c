namespace BertSharp.Tensors;

/// <summary>
/// The B operand of a GEMM, op(B) of shape [K, N], packed once into the panel layout that
/// <see cref="Gemm"/>'s microkernel reads, for reuse across calls (weights during inference).
/// Pass it to <c>Gemm.Multiply(transA, m, n, k, alpha, a, lda, packed, beta, c, ldc)</c>.
/// The packed copy does not follow later changes to the source: re-pack after a weight update.
/// </summary>
/// <remarks>
/// Layout: for each KC-deep block of rows p0 (depth kc = min(KC, K − p0)) and each NR-wide sliver s,
/// kc × NR floats (zero-padded past N) start at p0·PaddedN + s·kc·NR: kc rows of NR, or, where
/// <see cref="HalfSlivers"/>, kc rows of the first 16 columns followed by kc rows of the other 16.
/// </remarks>
internal sealed unsafe class PackedMatrix
{
    // The panels: in huge-page memory where the platform gives it (HugePages), else a pinned array.
    private readonly HugePages.Block? block;
    private readonly float[]? data;
    private readonly int offset;

    private PackedMatrix(int k, int n)
    {
        K = k;
        N = n;
        PaddedN = (n + Gemm.NR - 1) / Gemm.NR * Gemm.NR;
        long floats = checked((long)k * PaddedN);
        // 64 spare bytes, as the array's 16 spare floats leave readable memory past the last panel.
        block = HugePages.Rent(floats * sizeof(float) + 64);
        if (block is not null) return;
        // Pinned so the kernels can hold a raw pointer; 16 spare floats align it to 64 bytes.
        data = GC.AllocateUninitializedArray<float>(checked((int)floats + 16), pinned: true);
        fixed (float* p = data) offset = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
    }

    /// <summary>Rows of op(B) (the GEMM's inner dimension).</summary>
    public int K { get; }

    /// <summary>Columns of op(B) (the GEMM's output columns).</summary>
    public int N { get; }

    internal int PaddedN { get; }

    /// <summary>Whether each sliver is packed as two 16-column halves (<see cref="Gemm.HalfSlivers"/>, fixed when packed).</summary>
    internal bool HalfSlivers { get; } = Gemm.HalfSlivers;

    /// <summary>Whether the panels are in <see cref="HugePages"/> memory (large weights on Linux) rather than a pinned array.</summary>
    internal bool InHugePageMemory => block is not null;

    internal float* Pointer
    {
        get
        {
            if (block is not null) return (float*)block.Pointer;
            fixed (float* p = data) return p + offset;
        }
    }

    /// <summary>
    /// Packs op(B), where B is stored [k, n] (ldb ≥ n) or, when transB, [n, k] (ldb ≥ k).
    /// A Linear weight W stored [out, in] packs for y = x·Wᵀ as <c>Pack(true, in, out, W, in)</c>.
    /// </summary>
    public static PackedMatrix Pack(bool transB, int k, int n, ReadOnlySpan<float> b, int ldb)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        Gemm.CheckMatrix("B", b.Length, transB ? n : k, transB ? k : n, ldb);
        var packed = new PackedMatrix(k, n);
        float* dst = packed.Pointer;
        fixed (float* src = b)
        {
            for (int p0 = 0; p0 < k; p0 += Gemm.KC)
            {
                int kc = Math.Min(Gemm.KC, k - p0);
                for (int j0 = 0, s = 0; j0 < n; j0 += Gemm.NR, s++)
                {
                    int cols = Math.Min(Gemm.NR, n - j0);
                    float* from = transB ? src + (long)j0 * ldb + p0 : src + (long)p0 * ldb + j0;
                    Gemm.PackSliver(transB, from, ldb, cols, kc, dst + (long)p0 * packed.PaddedN + (long)s * kc * Gemm.NR, packed.HalfSlivers);
                }
            }
        }
        return packed;
    }
}
