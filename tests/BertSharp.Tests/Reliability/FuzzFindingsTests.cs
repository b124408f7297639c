using System.Buffers.Binary;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Text;
using BertSharp.Tests.IO;
using Encoding = System.Text.Encoding;

namespace BertSharp.Tests.Reliability;

/// <summary>
/// The crashes the parser fuzz pass (<c>bench fuzz</c>) found, each shrunk to its input: every one
/// escaped as an exception other than the parser's named InvalidDataException.
/// </summary>
public sealed class FuzzFindingsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SafetensorsHeaderNameWithALoneSurrogateEscape()
    {
        var path = _dir.File("bad.safetensors");
        var header = Encoding.UTF8.GetBytes("""{"w\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""");
        var bytes = new byte[8 + header.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("""{"normalizer":{"type":"BertNormalizer","s\ud800trip_accents":null},"model":{"type":"WordPiece","vocab":{"[UNK]":0}}}""")]
    [InlineData("""{"normalizer":{"type":"BertNormalizer"},"model":{"type":5,"vocab":{"[UNK]":0}}}""")]
    [InlineData("""{"normalizer":{"type":"BertNormalizer"},"model":{"max_input_chars_per_word":1e12,"vocab":{"[UNK]":0}}}""")]
    public void TokenizerJsonFieldsOfTheWrongTypeOrText(string json)
    {
        var path = _dir.File("tokenizer.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void JsonLinesStringWithALoneSurrogateEscape()
    {
        var path = _dir.File("data.jsonl");
        File.WriteAllText(path, "{\"text\": \"good\", \"label\": \"a\"}\n{\"text\": \"bad \\ud800\", \"label\": \"b\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains($"{path}, line 2", e.Message);
    }

    [Fact]
    public void ParquetWithItsMagicButNoValidFooter()
    {
        var path = _dir.File("data.parquet");
        File.WriteAllBytes(path, [.. "PAR1"u8, 0, 0x41, 0x52, 0x31, .. "PAR1"u8]);
        var e = Assert.Throws<InvalidDataException>(() => TextDataset.Load(path));
        Assert.Contains(path, e.Message);
    }

    // The fuzz pass's hangs: parquet-hang.bin (468 bytes) is the seed with the footer's last byte (the stop that ends
    // it) turned into a field header; parquet-hang-page-header.bin (470) has a page header's statistics string 446
    // bytes long. Either way Parquet.Net's Thrift reader runs off the end of what it parses, where it spun forever.
    [Theory]
    [InlineData("parquet-hang.bin")]
    [InlineData("parquet-hang-page-header.bin")]
    public async Task ParquetWhoseThriftEndsInsideAField(string finding)
    {
        var path = _dir.File("data.parquet");
        File.Copy(TestData.RepositoryPath("bench", "fuzz-findings", finding), path);
        var load = Task.Run(() => TextDataset.Load(path));
        Assert.True(await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(10))) == load, "TextDataset.Load did not return within 10 s");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => load);
        Assert.Contains(path, e.Message);
    }
}
