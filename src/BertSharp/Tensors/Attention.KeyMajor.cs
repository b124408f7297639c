namespace BertSharp.Tensors;

// Inference's attention of one head over many keys, key-major: per block of 32 queries, Sᵀ = K·Qᵀ (keys × 32) comes out
// of the GEMM microkernel in the very layout its B operand is read in, so the softmax runs down the columns (vector
// operations along each key's row, no reductions across lanes) and Cᵀ = Vᵀ·E follows without packing the
// probabilities; each query's 1 / Σ e scales its dh outputs rather than its probabilities. Against the row-major
// path (two packed GEMMs around a row softmax), same process: 7–10 % less time at 8 × 512 tokens, one or two threads
// (`kernels 0.5 1 512`, docs/BENCHMARKS.md).
internal static unsafe partial class Attention
{
    [ThreadStatic] private static AlignedBuffer? keyMajorScratch;

    // Query rows at which the key-major kernel pays: each block computes 32 queries' scores, whatever the block holds.
    private const int KeyMajorMinRows = 16;

    // The key-major kernel takes a head when nothing but the context is wanted (no probabilities kept, no dropout),
    // a vector microkernel runs, and there are too many keys for the direct kernels.
    private static bool KeyMajor(in Job j, bool direct) =>
        !direct && j.P == null && j.Dropout == 0 && j.Rows >= KeyMajorMinRows && Gemm.Path != Gemm.Isa.Scalar;

    // context rows [0, rows) of one head (row stride ldc) from its queries q (ldq) over the first keys rows of k and v
    // (both ld); add (or null) is the additive key mask.
    private static void KeyMajorHead(float* q, int ldq, int rows, float* k, float* v, int ld, int keys, int dh, float scale, float* add, float* c, int ldc)
    {
        const int MR = Gemm.MR, NR = Gemm.NR, Half = NR / 2;
        // AVX-512 reads a B sliver as rows of 32, AVX2 as two halves of rows of 16 (Gemm.HalfSlivers).
        bool halves = Gemm.Path == Gemm.Isa.Avx2;
        int kSlivers = (keys + MR - 1) / MR, vSlivers = (dh + MR - 1) / MR;
        long akSize = (long)kSlivers * dh * MR, avSize = (long)vSlivers * keys * MR;
        float* ak = (keyMajorScratch ??= new AlignedBuffer()).Get(akSize + avSize + 2L * dh * NR + (long)keys * NR);
        float* av = ak + akSize, qt = av + avSize, ct = qt + dh * NR, e = ct + dh * NR;
        // K as the A operand (slivers of 12 keys, dh deep) and Vᵀ likewise (slivers of 12 of the head's columns, keys
        // deep): packed once for every block of queries.
        for (int s = 0; s < kSlivers; s++)
            Gemm.PackTransposed(k + (long)s * MR * ld, ld, Math.Min(MR, keys - s * MR), dh, ak + (long)s * dh * MR, MR);
        for (int s = 0; s < vSlivers; s++)
            Gemm.PackRows(v + s * MR, ld, Math.Min(MR, dh - s * MR), keys, av + (long)s * keys * MR, MR);
        float* inv = stackalloc float[NR];
        for (int q0 = 0; q0 < rows; q0 += NR)
        {
            int n = Math.Min(NR, rows - q0);
            // Qᵀ as a B sliver (dh × 32, zeros past the block's queries).
            Gemm.PackSliver(true, q + (long)q0 * ldq, ldq, n, dh, qt, halves);
            // Sᵀ = scale·K·Qᵀ into e: keys rows of 32, or (halves) keys rows of the first 16 queries, then of the other 16.
            for (int s = 0; s < kSlivers; s++)
            {
                int mr = Math.Min(MR, keys - s * MR);
                float* a = ak + (long)s * dh * MR;
                if (!halves) Gemm.TileFor(mr)(dh, a, qt, e + (long)s * MR * NR, NR, scale, 0, mr, NR, null);
                else
                    for (int h = 0; h < 2; h++)
                        Gemm.Tile256(dh, a, qt + h * Half * dh, e + h * Half * (long)keys + (long)s * MR * Half, Half, scale, 0, mr, Half, null);
            }
            if (!halves) ColumnSoftmax<Vec512>(e, keys, add, inv);
            else
            {
                ColumnSoftmax<Vec256>(e, keys, add, inv);
                ColumnSoftmax<Vec256>(e + Half * (long)keys, keys, add, inv + Half);
            }
            // Cᵀ = Vᵀ·E (dh × 32), E being this block's B sliver, keys deep.
            for (int s = 0; s < vSlivers; s++)
            {
                int mr = Math.Min(MR, dh - s * MR);
                Gemm.TileFor(mr)(keys, av + (long)s * keys * MR, e, ct + s * MR * NR, NR, 1, 0, mr, NR, null);
            }
            for (int i = 0; i < n; i++)
            {
                float* ci = c + (long)(q0 + i) * ldc;
                float f = inv[i];
                for (int d = 0; d < dh; d++) ci[d] = ct[d * NR + i] * f;
            }
        }
    }

    // Softmax down each of the 2·V.Count columns of e (keys rows of 2·V.Count), plus add[j] on row j when add is given,
    // left unnormalised: e ← e^(x − column max); inv ← 1 / column sum.
    private static void ColumnSoftmax<V>(float* e, int keys, float* add, float* inv) where V : unmanaged, IVec<V>
    {
        int w = 2 * V.Count;
        V m0 = V.Create(float.NegativeInfinity), m1 = m0;
        for (int j = 0; j < keys; j++)
        {
            float* row = e + (long)j * w;
            V x0 = V.Load(row), x1 = V.Load(row + V.Count);
            if (add != null)
            {
                var a = V.Create(add[j]);
                (x0, x1) = (x0 + a, x1 + a);
            }
            (m0, m1) = (V.Max(m0, x0), V.Max(m1, x1));
        }
        V s0 = V.Zero, s1 = V.Zero;
        for (int j = 0; j < keys; j++)
        {
            float* row = e + (long)j * w;
            var a = V.Create(add != null ? add[j] : 0);
            var x0 = Kernels.ExpNonPositive(V.Load(row) + a - m0);
            var x1 = Kernels.ExpNonPositive(V.Load(row + V.Count) + a - m1);
            V.Store(x0, row);
            V.Store(x1, row + V.Count);
            (s0, s1) = (s0 + x0, s1 + x1);
        }
        var one = V.Create(1);
        V.Store(one / s0, inv);
        V.Store(one / s1, inv + V.Count);
    }
}
