using System.Text;
using System.Text.Json;

namespace BertSharp.Tests.Text;

/// <summary>Lines of real text from every data set in ../shared/data, plus generated tricky lines.</summary>
internal static class TextCorpus
{
    public static IEnumerable<(string Source, string Text)> SharedData(int imdbEvery = 5)
    {
        foreach (var file in new[] { "train.csv", "dev.csv" })
            foreach (var line in File.ReadLines(TestData.Path("sentence-polarity", file)).Skip(1))
                yield return ($"sentence-polarity/{file}", line);
        foreach (var line in File.ReadLines(TestData.Path("sst2", "train.tsv")).Skip(1))
            yield return ("sst2/train.tsv", line);
        // TREC has one stray byte 0xF0: Latin-1 reads every byte.
        foreach (var line in File.ReadLines(TestData.Path("trec", "train_5500.label"), System.Text.Encoding.Latin1))
            yield return ("trec/train_5500.label", line);
        foreach (var file in new[] { "eng.train", "eng.testa" })
        {
            var words = new List<string>();
            foreach (var line in File.ReadLines(TestData.Path("conll2003", file)).Append(""))
            {
                if (line.Length == 0)
                {
                    if (words.Count > 0) yield return ($"conll2003/{file}", string.Join(' ', words));
                    words.Clear();
                }
                else if (!line.StartsWith("-DOCSTART-", StringComparison.Ordinal))
                {
                    words.Add(line[..line.IndexOf(' ')]);
                }
            }
        }
        using (var doc = JsonDocument.Parse(File.ReadAllBytes(TestData.Path("squad-v1.1", "dev-part1.json"))))
        {
            var items = new List<string>();
            foreach (var article in doc.RootElement.GetProperty("data").EnumerateArray())
                foreach (var paragraph in article.GetProperty("paragraphs").EnumerateArray())
                {
                    items.Add(paragraph.GetProperty("context").GetString()!);
                    foreach (var qa in paragraph.GetProperty("qas").EnumerateArray())
                    {
                        items.Add(qa.GetProperty("question").GetString()!);
                        foreach (var answer in qa.GetProperty("answers").EnumerateArray()) items.Add(answer.GetProperty("text").GetString()!);
                    }
                }
            foreach (var item in items) yield return ("squad-v1.1/dev-part1.json", item);
        }
        foreach (var label in new[] { "pos", "neg" })
        {
            var files = Directory.GetFiles(TestData.Path("imdb", "train", label), "*.txt");
            Array.Sort(files, StringComparer.Ordinal);
            for (int i = 0; i < files.Length; i += imdbEvery) yield return ($"imdb/train/{label}", File.ReadAllText(files[i]));
        }
    }

    private static readonly string[] Fragments =
    [
        "Café", "naïve", "résumé", "Ångström", "Crème brûlée", "Zoë", "São Paulo", "façade", "e\u0301\u0302", "a\u0308\u0323",
        "İstanbul", "ΟΔΟΣ", "ὈΔΥΣΣΕΎΣ", "Σ", "ΣΑΣ", "ǅ", "ﬁne", "ﬂow", "ＡＢＣ１２３", "𝐀𝐁𝐂", "ß", "Æsir", "Øresund", "Łódź",
        "中文字符", "日本語のテキスト", "한국어 문장", "𠀀", "\U0002B820", "\U0002B91F", "\U0002B920", "\U0002CEAF", "\U00030000", "豈", "丽",
        "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "NLP😀", "❤️", "✓", "™", "©2024",
        "\u0000", "\u0001", "\u0085", "\u000B", "\u000C", "\u200B", "\uFEFF", "\u00AD", "\u200D", "\u2066", "\uFFFD", "\uE000", "\u007F",
        "\u2028", "\u2029", "\u00A0", "\u3000", "\u1680", "\u202F", "\t", "\r\n", "\n",
        "«quoted»", "—", "–", "…", "‘single’", "“double”", "¿Qué?", "¡Hola!", "、", "。", "『』", "‼", "⁂", "§", "¶", "†", "‰",
        "$100", "+1", "<tag>", "a=b", "^_^", "`code`", "|pipe|", "~tilde~", "#hash", "@user", "50%", "&amp;",
        "[CLS]", "[SEP]", "[MASK]", "[mask]", "[PAD]", "[UNK]", "[MASK]x", "a[MASK]b", "[[MASK]]", "[CLS][SEP]", "[MAS", "[ CLS ]",
        "Pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism", "tokenization", "unaffable",
        "\uD800", "\uDC00", "x\uDBFFy", "मराठी", "हिन्दी", "ภาษาไทย", "العربية", "عَرَبِيّ", "עברית", "русский", "Ελληνικά", "ქართული",
        "가", "ㄱ", "ｶﾀｶﾅ", "①②③", "½", "x²", "H₂O", "e\u0300\u0316", "\u0344", "\u1734", "\u166D", "\u061D", "\u08E2",
    ];

    /// <summary>Deterministic mixtures of the fragments above, plus long-word and edge cases.</summary>
    public static IEnumerable<string> Tricky(int count)
    {
        var random = new Random(20240611);
        foreach (var f in Fragments) yield return f;
        yield return new string('a', 100);
        yield return new string('a', 101);
        yield return new string('a', 99) + "😀";
        yield return new string('a', 100) + "😀";
        yield return string.Concat(Enumerable.Repeat("😀", 100));
        yield return string.Concat(Enumerable.Repeat("😀", 101));
        yield return string.Concat(Enumerable.Repeat("ab", 60));
        yield return string.Concat(Enumerable.Repeat("é", 101));
        yield return "";
        yield return " ";
        yield return "\u0085\u000B\u000C";
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            sb.Clear();
            int n = random.Next(1, 12);
            for (int k = 0; k < n; k++)
            {
                sb.Append(Fragments[random.Next(Fragments.Length)]);
                int sep = random.Next(4);
                if (sep < 2) sb.Append(' ');
                else if (sep == 2) sb.Append(Fragments[random.Next(Fragments.Length)][0]);
            }
            yield return sb.ToString();
        }
    }
}
