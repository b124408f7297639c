namespace BertSharp.Model;

/// <summary>
/// What a "sum → dropout → LayerNorm" block (the embeddings, and each residual output) keeps for its
/// backward pass: the pre-dropout sum, the dropout mask, the normalised output and the row statistics.
/// </summary>
internal sealed class NormalizedSumCache
{
    public float[] Sum = [], Output = [], Mask = [], Mean = [], Rstd = [];
    public bool Dropped;

    public void Ensure(int n, int c)
    {
        Buffers.Ensure(ref Sum, n * c);
        Buffers.Ensure(ref Output, n * c);
        Buffers.Ensure(ref Mean, n);
        Buffers.Ensure(ref Rstd, n);
    }
}
