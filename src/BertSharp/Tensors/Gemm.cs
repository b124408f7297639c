namespace BertSharp.Tensors;

/// <summary>
/// Row-major single-precision matrix multiply with BLAS sgemm semantics:
/// C = alpha * op(A) * op(B) + beta * C, where op(A) is [m,k] and op(B) is [k,n].
/// A is stored [m,k] (lda ≥ k) or, when transA, [k,m] (lda ≥ m); B likewise.
/// Leading dimensions let callers address one attention head inside a [tokens, hidden] buffer.
/// </summary>
internal static class Gemm
{
    // Reference implementation: the contract the fast kernels must keep.
    public static void Multiply(
        bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb,
        float beta, Span<float> c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[p * lda + i] : a[i * lda + p];
                    float bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                ref float cij = ref c[i * ldc + j];
                cij = beta == 0 ? alpha * sum : alpha * sum + beta * cij;
            }
        }
    }
}
