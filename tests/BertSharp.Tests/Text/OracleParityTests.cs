using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>
/// BertSharp's ids against Hugging Face's Rust tokenizer over every data set in ../shared/data and
/// thousands of generated tricky lines: zero mismatches allowed.
/// </summary>
public class OracleParityTests
{
    private static readonly EncodeOptions NoTruncation = new() { Truncation = TruncationStrategy.DoNotTruncate };

    [Fact]
    public void SharedDataMatchesHuggingFaceExactly()
    {
        using var oracle = new HfOracle();
        var ours = BertTokenizer.FromBuiltIn();
        var lines = TextCorpus.SharedData().ToList();
        Assert.True(lines.Count >= 10_000, $"only {lines.Count} lines");
        var bySource = lines.GroupBy(l => l.Source).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(9, bySource.Count); // every file of every data set contributed
        AssertSame(oracle, ours, lines.Select(l => l.Text));
    }

    [Fact]
    public void TrickyLinesMatchHuggingFaceExactly()
    {
        using var oracle = new HfOracle();
        AssertSame(oracle, BertTokenizer.FromBuiltIn(), TextCorpus.Tricky(5_000));
    }

    [Fact]
    public void TrickyLinesMatchHuggingFaceCasedWithoutAccentStripping()
    {
        using var oracle = new HfOracle(lowercase: false);
        AssertSame(oracle, BertTokenizer.FromBuiltIn(options: new BertTokenizerOptions { DoLowerCase = false }), TextCorpus.Tricky(2_000));
    }

    [Fact]
    public void TrickyLinesMatchHuggingFaceLowerCaseKeepingAccents()
    {
        using var oracle = new HfOracle(lowercase: true, stripAccents: false);
        AssertSame(oracle, BertTokenizer.FromBuiltIn(options: new BertTokenizerOptions { StripAccents = false }), TextCorpus.Tricky(2_000));
    }

    [Fact]
    public void TokenizerJsonLoadsToTheSameIds()
    {
        using var oracle = new HfOracle();
        AssertSame(oracle, BertTokenizer.FromTokenizerJson(oracle.Path), TextCorpus.Tricky(500));
    }

    private static void AssertSame(HfOracle oracle, BertTokenizer ours, IEnumerable<string> lines)
    {
        int count = 0;
        var mismatches = new List<string>();
        foreach (var text in lines)
        {
            count++;
            var expected = oracle.Encode(text);
            var actual = ours.Encode(text, options: NoTruncation).Ids;
            if (!expected.AsSpan().SequenceEqual(actual) && mismatches.Count < 20)
                mismatches.Add($"{Escape(text)}\n  HF   [{string.Join(",", expected)}]\n  ours [{string.Join(",", actual)}]");
        }
        Assert.True(mismatches.Count == 0, $"mismatches in {count} lines:\n{string.Join("\n", mismatches)}");
    }

    private static string Escape(string s)
    {
        var t = s.Length > 200 ? s[..200] + "…" : s;
        return string.Concat(t.Select(c => c < 0x20 || char.IsSurrogate(c) || c is >= '\u0080' and <= '\u00A0' ? $"\\u{(int)c:X4}" : c.ToString()));
    }
}
