using System.Runtime.InteropServices;
using Onnx;

namespace BertSharp.IO;

/// <summary>Reads the values of ONNX <c>TensorProto</c>s (initializers and Constant nodes).</summary>
internal static class OnnxTensors
{
    public static int[] Shape(TensorProto t, string source)
    {
        var shape = new int[t.Dims.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (t.Dims[i] < 0 || t.Dims[i] > int.MaxValue)
                throw new InvalidDataException($"{source}: tensor '{t.Name}' has dimension {t.Dims[i]}");
            shape[i] = (int)t.Dims[i];
        }
        return shape;
    }

    public static float[] Floats(TensorProto t, string source, string? externalDirectory)
    {
        if ((TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Float)
            throw new InvalidDataException($"{source}: tensor '{t.Name}' is {(TensorProto.Types.DataType)t.DataType}, expected Float");
        long n = 1;
        foreach (var d in t.Dims) n *= d;
        var values = new float[n];
        if (t.FloatData.Count > 0)
        {
            if (t.FloatData.Count != n) throw Mismatch(t, source, t.FloatData.Count, n);
            t.FloatData.CopyTo(values, 0);
            return values;
        }
        var raw = RawBytes(t, source, externalDirectory);
        if (raw.Length != n * sizeof(float)) throw Mismatch(t, source, raw.Length / sizeof(float), n);
        raw.Span.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        if (!BitConverter.IsLittleEndian) ReverseEach(MemoryMarshal.Cast<float, int>(values.AsSpan()));
        return values;
    }

    public static long[]? Int64s(TensorProto t)
    {
        if ((TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Int64 || t.DataLocation == TensorProto.Types.DataLocation.External)
            return null;
        if (t.Int64Data.Count > 0) return [.. t.Int64Data];
        var values = MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray();
        if (!BitConverter.IsLittleEndian) ReverseEach(values.AsSpan());
        return values;
    }

    public static float? Scalar(TensorProto t)
    {
        long n = 1;
        foreach (var d in t.Dims) n *= d;
        if ((TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Float || n != 1) return null;
        if (t.FloatData.Count == 1) return t.FloatData[0];
        return t.RawData.Length == 4 ? BitConverter.ToSingle(t.RawData.Span) : null;
    }

    // ONNX files over 2 GB keep initializers in side files: location is relative to the model's directory.
    private static ReadOnlyMemory<byte> RawBytes(TensorProto t, string source, string? externalDirectory)
    {
        if (t.DataLocation != TensorProto.Types.DataLocation.External) return t.RawData.Memory;
        if (externalDirectory is null)
            throw new InvalidDataException($"{source}: tensor '{t.Name}' is stored in an external file, which needs the model's path, not a stream");
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in t.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (location is null) throw new InvalidDataException($"{source}: tensor '{t.Name}' is external but has no location");
        var path = Path.Combine(externalDirectory, location);
        using var file = File.OpenRead(path);
        if (length < 0) length = file.Length - offset;
        if (offset + length > file.Length)
            throw new InvalidDataException($"{path}: tensor '{t.Name}' needs bytes {offset}..{offset + length} but the file has {file.Length}");
        var bytes = new byte[length];
        file.Position = offset;
        file.ReadExactly(bytes);
        return bytes;
    }

    private static InvalidDataException Mismatch(TensorProto t, string source, long have, long need) =>
        new($"{source}: tensor '{t.Name}' holds {have} values but its shape [{string.Join(", ", t.Dims)}] needs {need}");

    private static void ReverseEach(Span<int> values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(values[i]);
    }

    private static void ReverseEach(Span<long> values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(values[i]);
    }
}
