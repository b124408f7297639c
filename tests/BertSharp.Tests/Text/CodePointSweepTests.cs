using System.Text;
using BertSharp.Text;

namespace BertSharp.Tests.Text;

/// <summary>
/// Every Unicode code point, inside a word and beside one, through BertSharp and through Hugging Face's
/// Rust tokenizer: the ids must agree, uncased (NFD + accent stripping + lower-casing) and cased.
/// </summary>
public class CodePointSweepTests
{
    public static TheoryData<bool> Casing => [true, false];

    [Theory]
    [MemberData(nameof(Casing))]
    public void EveryCodePointMatchesHuggingFace(bool uncased)
    {
        using var oracle = new HfOracle(lowercase: uncased);
        var ours = BertTokenizer.FromBuiltIn(options: new BertTokenizerOptions { DoLowerCase = uncased });
        var options = new EncodeOptions { Truncation = TruncationStrategy.DoNotTruncate };
        var failures = new List<string>();
        const int PerLine = 64;
        var line = new StringBuilder();
        var cps = new List<int>(PerLine);
        for (int cp = 0; cp <= 0x110000; cp++)
        {
            if (cp < 0x110000 && (cp < 0xD800 || cp > 0xDFFF))
            {
                cps.Add(cp);
                var s = char.ConvertFromUtf32(cp);
                line.Append('x').Append(s).Append("x ").Append(s).Append("a ");
            }
            if (cps.Count == PerLine || (cp == 0x110000 && cps.Count > 0))
            {
                var text = line.ToString();
                if (!oracle.Encode(text).SequenceEqual(ours.Encode(text, options: options).Ids))
                {
                    foreach (int c in cps)
                    {
                        var one = $"x{char.ConvertFromUtf32(c)}x {char.ConvertFromUtf32(c)}a";
                        var expected = oracle.Encode(one);
                        var actual = ours.Encode(one, options: options).Ids;
                        if (!expected.SequenceEqual(actual))
                            failures.Add($"U+{c:X4} {System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c)}: HF [{string.Join(",", expected)}] ours [{string.Join(",", actual)}]");
                    }
                }
                cps.Clear();
                line.Clear();
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} code points differ:\n{string.Join("\n", failures.Take(2000))}");
    }
}
