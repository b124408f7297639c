using System.Buffers.Binary;
using System.Text;
using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Tests.IO;

public class SafeTensorsTests
{
    private static byte[] Raw(string header, byte[] data, ulong? claimedHeaderLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedHeaderLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    [Fact]
    public void WritesTheReferenceLayoutByteForByte()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        var weights = new Dictionary<string, FloatTensor>
        {
            ["b"] = new([2], [1.0f, -2.0f]),
            ["a"] = new([1, 1], [0.5f]),
        };
        SafeTensors.Write(path, weights, new Dictionary<string, string> { ["format"] = "pt" });

        // Written by hand from the format's description: sorted names, compact JSON, space padding to 8 bytes.
        const string json = """{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""";
        var header = json + new string(' ', (8 - json.Length % 8) % 8);
        byte[] data = [0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0];
        Assert.Equal(Raw(header, data), File.ReadAllBytes(path));
        Assert.Equal(0, (8 + header.Length) % 8);
    }

    [Fact]
    public void RoundTripIsBitExact()
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        var values = new float[1000];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue));
        // Edge cases a float round-trip through text or arithmetic would lose.
        values[0] = -0.0f;
        values[1] = BitConverter.Int32BitsToSingle(0x7FC00001);
        values[2] = float.Epsilon;
        values[3] = float.NegativeInfinity;
        var original = new StateDict { ["encoder.layer.0.w"] = new([10, 100], values), ["scalar"] = new([], [3f]), ["empty"] = new([0, 4]) };
        var first = dir.File("a.safetensors");
        SafeTensors.Write(first, original);
        var read = SafeTensors.Read(first);

        Assert.Equal(original.Keys.Order(), read.Keys.Order());
        foreach (var (name, t) in original)
        {
            Assert.Equal(t.Shape, read[name].Shape);
            Assert.Equal(t.Data.Select(BitConverter.SingleToInt32Bits), read[name].Data.Select(BitConverter.SingleToInt32Bits));
        }
        var second = dir.File("b.safetensors");
        SafeTensors.Write(second, read);
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length); // no temp files left behind
    }

    [Fact]
    public void ReadsHalfAndBFloat16AsFloat32()
    {
        using var dir = new TempDir();
        var path = dir.File("half.safetensors");
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF; BF16: 1.0 = 0x3F80, -0.5 = 0xBF00, 3.140625 = 0x4049.
        byte[] data = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x80, 0x3F, 0x00, 0xBF, 0x49, 0x40];
        File.WriteAllBytes(path, Raw("""{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}}""", data));
        var read = SafeTensors.Read(path);
        Assert.Equal([1f, -2f, 65504f], read["h"].Data);
        Assert.Equal([1f, -0.5f, 3.140625f], read["b"].Data);
    }

    [Fact]
    public void SkipsIntegerPositionIdsButRejectsOtherIntegerTensors()
    {
        using var dir = new TempDir();
        var path = dir.File("ids.safetensors");
        File.WriteAllBytes(path, Raw("""{"bert.embeddings.position_ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]},"w":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}""", new byte[20]));
        Assert.Equal(["w"], SafeTensors.Read(path).Keys);

        File.WriteAllBytes(path, Raw("""{"counts":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
        var e = Assert.Throws<NotSupportedException>(() => SafeTensors.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'counts'", e.Message);
    }

    public static TheoryData<string, byte[], ulong?, string> BadFiles => new()
    {
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[4], null, "'w'" }, // data cut short
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", new byte[8], 10_000, "header claims 10000 bytes" },
        { """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", new byte[8], null, "shape [3] of F32 needs 12 bytes" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8], null, "'b' (bytes 4..8) overlaps tensor 'a'" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", new byte[8], null, "4 bytes before tensor 'a'" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[8], null, "the file holds 8" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]""", new byte[4], null, "not valid JSON" },
        { """{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", new byte[4], null, "'w': unknown dtype 'Q4'" },
        { """{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", new byte[4], null, "'w': bad dimension" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", new byte[4], null, "out of order" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void LyingOrTruncatedHeadersAreNamedErrors(string header, byte[] data, ulong? claimedLength, string expected)
    {
        using var dir = new TempDir();
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, Raw(header, data, claimedLength));
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void FileShorterThanTheLengthFieldIsTruncated()
    {
        using var dir = new TempDir();
        var path = dir.File("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains("truncated", e.Message);
    }
}
