using System.Runtime.InteropServices;

namespace BertSharp.Tensors;

/// <summary>
/// A grow-only, zero-initialised float buffer in native memory whose first element sits on a 64-byte
/// boundary. .NET arrays start wherever the GC puts them; oneDNN's AMX kernels write a wide output
/// (the intermediate layer's N × 1536) at up to twice the speed when its rows start on cache lines,
/// so the activations that are such outputs live here.
/// </summary>
/// <remarks>Spans from it are valid until the next <see cref="Ensure"/> that grows it.</remarks>
internal sealed unsafe class AlignedArray
{
    private float* _data;

    public int Length { get; private set; }

    public Span<float> Span => new(_data, Length);

    public Span<float> AsSpan(int start) => Span[start..];

    public Span<float> AsSpan(int start, int length) => Span.Slice(start, length);

    public void Ensure(int length)
    {
        if (length <= Length) return;
        NativeMemory.AlignedFree(_data);
        _data = null;
        Length = 0;
        _data = (float*)NativeMemory.AlignedAlloc((nuint)length * sizeof(float), 64);
        new Span<float>(_data, length).Clear();
        Length = length;
    }

    public static implicit operator Span<float>(AlignedArray a) => a.Span;

    public static implicit operator ReadOnlySpan<float>(AlignedArray a) => a.Span;

    ~AlignedArray() => NativeMemory.AlignedFree(_data);
}
