namespace BertSharp.Model;

/// <summary>
/// Grow-only activation buffers: a workspace keeps the largest size it has seen, so batches of any
/// shorter length (dynamic padding) reuse the same arrays and a warm step allocates nothing.
/// Callers slice to the exact length they need.
/// </summary>
internal static class Buffers
{
    public static void Ensure(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
    }
}
