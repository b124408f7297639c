namespace BertSharp.Tensors;

/// <summary>
/// A dense fp32 tensor in row-major order. Weights keep Hugging Face's layout
/// (a Linear weight is [out, in]).
/// </summary>
public sealed class FloatTensor
{
    /// <summary>A tensor of the given shape over <paramref name="data"/>, or over new zeros when it is null.</summary>
    public FloatTensor(int[] shape, float[]? data = null)
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

    /// <summary>The dimensions, outermost first.</summary>
    public int[] Shape { get; }
    /// <summary>The values, row-major.</summary>
    public float[] Data { get; }
    /// <summary>The number of values.</summary>
    public int Length => Data.Length;
    /// <summary>The number of dimensions.</summary>
    public int Rank => Shape.Length;

    /// <summary>The shape as text, e.g. "[2, 3]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
