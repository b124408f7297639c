namespace BertSharp.Tensors;

/// <summary>
/// A dense fp32 tensor in row-major order. Weights keep Hugging Face's layout
/// (a Linear weight is [out, in]).
/// </summary>
public sealed class Tensor
{
    public Tensor(int[] shape, float[]? data = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"tensor of shape [{string.Join(", ", shape)}] is too large", nameof(shape));
        if (data is not null && data.Length != n)
            throw new ArgumentException($"data holds {data.Length} values but shape [{string.Join(", ", shape)}] needs {n}", nameof(data));
        Shape = shape;
        Data = data ?? new float[n];
    }

    public int[] Shape { get; }
    public float[] Data { get; }
    public int Length => Data.Length;
    public int Rank => Shape.Length;

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
