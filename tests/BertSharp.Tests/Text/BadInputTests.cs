using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>Bad vocabularies and bad text: a clear error naming what is wrong, or a documented result.</summary>
public class BadInputTests
{
    private static readonly BertTokenizer Tokenizer = BertTokenizer.FromBuiltIn();

    [Fact]
    public void MissingVocabFileIsNamed()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-bertsharp", "vocab.txt");
        var e = Assert.Throws<FileNotFoundException>(() => BertTokenizer.FromVocabFile(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void EmptyVocabFileIsNamed()
    {
        var path = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.FromVocabFile(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("empty", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("[UNK]")]
    [InlineData("[CLS]")]
    [InlineData("[SEP]")]
    public void VocabLackingARequiredTokenIsNamed(string missing)
    {
        var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello" }.Where(t => t != missing);
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, string.Join("\r\n", tokens) + "\r\n");
            var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.FromVocabFile(path));
            Assert.Contains(missing, e.Message);
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void CrlfAndLfVocabFilesGiveTheSameIds()
    {
        var lf = Path.GetTempFileName();
        var crlf = Path.GetTempFileName();
        try
        {
            var tokens = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##s" };
            File.WriteAllText(lf, string.Join("\n", tokens) + "\n");
            File.WriteAllText(crlf, string.Join("\r\n", tokens) + "\r\n");
            Assert.Equal([2, 5, 6, 1, 3], BertTokenizer.FromVocabFile(lf).Encode("Hellos bye").Ids);
            Assert.Equal([2, 5, 6, 1, 3], BertTokenizer.FromVocabFile(crlf).Encode("Hellos bye").Ids);
        }
        finally { File.Delete(lf); File.Delete(crlf); }
    }

    [Fact]
    public void NullTextIsAnArgumentError()
    {
        Assert.Throws<ArgumentNullException>(() => Tokenizer.Encode(null!));
        Assert.Throws<ArgumentNullException>(() => Tokenizer.Tokenize(null!));
    }

    [Fact]
    public void TenMegabyteStringMatchesHuggingFace()
    {
        var review = File.ReadAllText(Directory.GetFiles(TestData.Path("imdb", "train", "pos"), "*.txt").Order(StringComparer.Ordinal).First());
        var sb = new System.Text.StringBuilder(10_000_000 + review.Length);
        while (sb.Length < 10_000_000) sb.Append(review).Append(' ');
        var text = sb.ToString();
        using var oracle = new HfOracle();
        var expected = oracle.Encode(text);
        var actual = Tokenizer.Encode(text, options: new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate }).Ids;
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"{expected.Length} HF ids vs {actual.Length}");
        Assert.Equal(512, Tokenizer.Encode(text).Length);
    }

    [Fact]
    public void LoneSurrogatesAreDroppedLikeReplacementCharacters()
    {
        // Documented: a lone surrogate is read as U+FFFD, which clean_text removes.
        Assert.Equal(Tokenizer.Encode("ab").Ids, Tokenizer.Encode("a\uD800b").Ids);
        Assert.Equal(Tokenizer.Encode("a b").Ids, Tokenizer.Encode("a \uDC00b\uD83D").Ids);
    }

    [Fact]
    public void StrideThatDoesNotFitIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => Tokenizer.Encode("a b c d e f", options: new EncodeOptions { MaxLength = 4, Stride = 2 }));
        Assert.Contains("stride", e.Message);
    }

    [Fact]
    public void TokenizerJsonOfAnotherModelTypeIsRefused()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, """{"model": {"type": "BPE", "vocab": {}}}""");
            var e = Assert.Throws<NotSupportedException>(() => BertTokenizer.FromTokenizerJson(path));
            Assert.Contains("BPE", e.Message);
            File.WriteAllText(path, "{ not json");
            Assert.Throws<InvalidDataException>(() => BertTokenizer.FromTokenizerJson(path));
        }
        finally { File.Delete(path); }
    }
}
