using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>Copies the live part of a grow-only buffer into a new tensor handed to the caller.</summary>
internal static class TensorCopy
{
    public static FloatTensor Of(float[] source, params int[] shape)
    {
        var t = new FloatTensor(shape);
        source.AsSpan(0, t.Length).CopyTo(t.Data);
        return t;
    }
}
