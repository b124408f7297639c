namespace BertSharp.Tensors;

/// <summary>The managed fp32 provider: <see cref="Gemm"/>, with weights prepared as <see cref="PackedMatrix"/> panels.</summary>
internal sealed class ManagedMatMul : MatMul
{
    public override ComputeProvider Provider => ComputeProvider.Managed;

    public override string Name => Gemm.Path switch
    {
        Gemm.Isa.Avx512 => "managed-avx512",
        Gemm.Isa.Avx2 => "managed-avx2",
        _ => "managed-scalar",
    };

    public override void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias,
        float beta, Span<float> c, int ldc) =>
        Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, bias, beta, c, ldc);

    public override PreparedWeight Prepare(ReadOnlySpan<float> w, int n, int k) =>
        new Packed(this, PackedMatrix.Pack(true, k, n, w, k));

    public override void Multiply(int m, ReadOnlySpan<float> x, int ldx, PreparedWeight w, ReadOnlySpan<float> bias, Span<float> y, int ldy, bool gelu = false)
    {
        Gemm.Multiply(false, m, w.N, w.K, 1f, x, ldx, Panels(w), bias, 0f, y, ldy, gelu);
    }

    private PackedMatrix Panels(PreparedWeight w) =>
        w is Packed p && p.Owner == this ? p.Matrix : throw new ArgumentException("the weight was prepared by another provider", nameof(w));

    private sealed class Packed(MatMul owner, PackedMatrix matrix) : PreparedWeight(owner, matrix.N, matrix.K)
    {
        public PackedMatrix Matrix { get; } = matrix;
    }
}
