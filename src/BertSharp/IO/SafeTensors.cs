using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using BertSharp.Tensors;

namespace BertSharp.IO;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}}</c> (plus optional <c>__metadata__</c>), then the raw
/// little-endian data. Reads F32, F16 and BF16 into fp32; writes F32 the way the reference
/// implementation lays it out (names sorted, header padded with spaces to 8 bytes).
/// </summary>
internal static class SafeTensors
{
    // The reference implementation refuses headers over 100 MB; so do we, before allocating.
    private const long MaxHeaderBytes = 100_000_000;

    internal sealed record Entry(string Name, string DType, int[] Shape, long Begin, long End);

    /// <summary>Reads every floating-point tensor; integer buffers such as <c>position_ids</c> are skipped.</summary>
    public static StateDict Read(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var (entries, _, dataStart) = ReadHeader(file, path);
        var weights = new StateDict { Source = path };
        foreach (var e in entries.OrderBy(e => e.Begin))
        {
            if (ElementSize(e.DType) is 0)
            {
                // Integer buffers (position_ids, token_type_ids) are derived from the config, as in HF.
                if (e.Name.EndsWith("position_ids", StringComparison.Ordinal) || e.Name.EndsWith("token_type_ids", StringComparison.Ordinal)) continue;
                throw new NotSupportedException($"{path}: tensor '{e.Name}' has dtype {e.DType}; only F32, F16 and BF16 weights are supported");
            }
            file.Position = dataStart + e.Begin;
            weights[e.Name] = ReadTensor(file, e, path);
        }
        return weights;
    }

    /// <summary>Reads and validates the header only: the tensors, their dtypes, shapes and byte ranges.</summary>
    public static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(Stream file, string path)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        if (file.Length < 8) throw new InvalidDataException($"{path}: truncated safetensors file ({file.Length} bytes; the header length alone takes 8)");
        file.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(file.Length - 8))
            throw new InvalidDataException($"{path}: truncated safetensors file: the header claims {headerLength} bytes but only {file.Length - 8} follow");
        if (headerLength > MaxHeaderBytes) throw new InvalidDataException($"{path}: safetensors header of {headerLength} bytes is larger than the 100 MB limit");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = file.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: safetensors header is not valid JSON: {JsonErrors.Describe(e)}", e); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: safetensors header is not a JSON object");

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            ReadEntries(doc.RootElement, path, dataLength, entries, metadata);
        }
        catch (InvalidOperationException e)
        {
            // A name or string that is valid JSON but not valid text, such as an escaped lone surrogate.
            throw new InvalidDataException($"{path}: safetensors header: {e.Message}", e);
        }

        // The reference implementation requires the tensors to tile the data exactly: no overlap, no gap.
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        long expected = 0;
        Entry? previous = null;
        foreach (var e in entries)
        {
            if (e.Begin < expected)
                throw new InvalidDataException($"{path}: tensor '{e.Name}' (bytes {e.Begin}..{e.End}) overlaps tensor '{previous!.Name}' (bytes {previous.Begin}..{previous.End})");
            if (e.Begin > expected)
                throw new InvalidDataException($"{path}: {e.Begin - expected} bytes before tensor '{e.Name}' belong to no tensor");
            expected = e.End;
            previous = e;
        }
        if (expected != dataLength)
            throw new InvalidDataException($"{path}: the tensors cover {expected} bytes of data but the file holds {dataLength}");
        return (entries, metadata, dataStart);
    }

    private static void ReadEntries(JsonElement root, string path, long dataLength, List<Entry> entries, Dictionary<string, string> metadata)
    {
        foreach (var p in root.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                if (p.Value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: __metadata__ is not an object");
                foreach (var m in p.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                        : throw new InvalidDataException($"{path}: __metadata__ value '{m.Name}' is not a string");
                continue;
            }
            entries.Add(ParseEntry(p, path, dataLength));
        }
    }

    private static Entry ParseEntry(JsonProperty p, string path, long dataLength)
    {
        var v = p.Value;
        string Where() => $"{path}: tensor '{p.Name}'";
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{Where()}: header entry is not an object");
        if (!v.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{Where()}: no dtype");
        var dtype = dtypeEl.GetString()!;
        int byteSize = DTypeSize(dtype) ?? throw new InvalidDataException($"{Where()}: unknown dtype '{dtype}'");
        if (!v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{Where()}: no shape");
        var shape = new int[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
                throw new InvalidDataException($"{Where()}: bad dimension {d} in shape");
            shape[i++] = dim;
        }
        // The header is outside data: its shape's product can overflow any integer, so the element
        // count is only formed while it stays within what a tensor can hold.
        long count = ElementCount(shape, Array.MaxLength)
            ?? throw new InvalidDataException($"{Where()}: shape [{string.Join(", ", shape)}] has more elements than one tensor can hold ({Array.MaxLength})");
        if (!v.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end))
            throw new InvalidDataException($"{Where()}: data_offsets is not a pair of integers");
        if (begin < 0 || end < begin) throw new InvalidDataException($"{Where()}: data_offsets [{begin}, {end}] are out of order");
        if (end > dataLength)
            throw new InvalidDataException($"{Where()}: data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes; truncated file?)");
        if (end - begin != count * byteSize)
            throw new InvalidDataException(
                $"{Where()}: shape [{string.Join(", ", shape)}] of {dtype} needs {count * byteSize} bytes but data_offsets [{begin}, {end}] hold {end - begin}");
        return new Entry(p.Name, dtype, shape, begin, end);
    }

    // The product of the dimensions when it is at most max (and so cannot overflow), else null.
    private static long? ElementCount(int[] shape, long max)
    {
        if (shape.Contains(0)) return 0;
        long count = 1;
        foreach (int dim in shape)
        {
            if (count > max / dim) return null;
            count *= dim;
        }
        return count;
    }

    private static int? DTypeSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => null,
    };

    // Bytes per element of the dtypes we convert to fp32; 0 for those we do not read.
    private static int ElementSize(string dtype) => dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => 0 };

    private static FloatTensor ReadTensor(Stream file, Entry e, string path)
    {
        var tensor = new FloatTensor(e.Shape);
        var values = tensor.Data.AsSpan();
        if (e.DType == "F32")
        {
            // Straight into the tensor's array: no intermediate copy of the weights.
            file.ReadExactly(MemoryMarshal.AsBytes(values));
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(MemoryMarshal.AsBytes(values.Slice(i, 1)));
            return tensor;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int done = 0;
            while (done < values.Length)
            {
                int n = Math.Min(values.Length - done, buffer.Length / 2);
                var chunk = buffer.AsSpan(0, n * 2);
                file.ReadExactly(chunk);
                for (int i = 0; i < n; i++)
                {
                    ushort bits = BinaryPrimitives.ReadUInt16LittleEndian(chunk.Slice(i * 2, 2));
                    values[done + i] = e.DType == "BF16" ? BitConverter.Int32BitsToSingle(bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);
                }
                done += n;
            }
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{path}: tensor '{e.Name}' is truncated", ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return tensor;
    }

    /// <summary>Writes F32 tensors, names sorted, atomically.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, FloatTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToArray();
        var header = Header(names, tensors, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> word = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(word, (ulong)header.Length);
            stream.Write(word);
            stream.Write(header);
            foreach (var name in names)
            {
                var data = tensors[name].Data;
                if (BitConverter.IsLittleEndian) stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
                else
                    foreach (var x in data) { BinaryPrimitives.WriteSingleLittleEndian(word, x); stream.Write(word[..4]); }
            }
        });
    }

    private static byte[] Header(string[] names, IReadOnlyDictionary<string, FloatTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var name in names)
            {
                var t = tensors[name];
                json.WriteStartObject(name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += (long)t.Length * sizeof(float);
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
