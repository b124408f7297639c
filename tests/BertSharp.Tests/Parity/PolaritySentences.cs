using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Parity;

/// <summary>
/// Real sentences from sentence-polarity's dev.csv turned into ids with the model's own vocab.txt:
/// the data is already lower-cased and space-separated, so splitting off punctuation and a greedy
/// longest-match WordPiece give the ids BERT's tokenizer gives for these lines.
/// </summary>
internal static class PolaritySentences
{
    public static string[] Texts(int count, int skip = 0) =>
        [.. File.ReadLines(TestData.Path("sentence-polarity", "dev.csv")).Skip(1 + skip).Take(count)
            .Select(l => l[0] == '"' ? l[1..l.LastIndexOf("\",", StringComparison.Ordinal)] : l[..l.LastIndexOf(',')])];

    public static Dictionary<string, int> Vocab(string model)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        using var reader = new StreamReader(BuiltInModels.OpenVocab(model));
        int i = 0;
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine(), i++) vocab.TryAdd(line, i);
        return vocab;
    }

    /// <summary>[CLS] wordpieces [SEP], at most maxTokens long.</summary>
    public static int[] Ids(Dictionary<string, int> vocab, string text, int maxTokens)
    {
        var ids = new List<int> { vocab["[CLS]"] };
        foreach (var word in Words(text))
            ids.AddRange(WordPiece(vocab, word));
        if (ids.Count > maxTokens - 1) ids.RemoveRange(maxTokens - 1, ids.Count - (maxTokens - 1));
        ids.Add(vocab["[SEP]"]);
        return [.. ids];
    }

    /// <summary>Right-padded batch with attention mask 1 on real tokens.</summary>
    public static BertInput Pad(IReadOnlyList<int[]> sequences, int? length = null)
    {
        int b = sequences.Count, t = length ?? sequences.Max(s => s.Length);
        var input = new BertInput(b, t, new int[b * t], new int[b * t], new int[b * t]);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < sequences[i].Length; j++)
            {
                input.InputIds[i * t + j] = sequences[i][j];
                input.AttentionMask[i * t + j] = 1;
            }
        return input;
    }

    private static IEnumerable<string> Words(string text)
    {
        foreach (var chunk in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int start = 0;
            for (int i = 0; i < chunk.Length; i++)
            {
                if (char.IsLetterOrDigit(chunk[i])) continue;
                if (i > start) yield return chunk[start..i];
                yield return chunk[i].ToString();
                start = i + 1;
            }
            if (start < chunk.Length) yield return chunk[start..];
        }
    }

    private static IEnumerable<int> WordPiece(Dictionary<string, int> vocab, string word)
    {
        var pieces = new List<int>();
        for (int start = 0; start < word.Length;)
        {
            int end = word.Length, id = -1;
            for (; end > start; end--)
                if (vocab.TryGetValue(start == 0 ? word[start..end] : "##" + word[start..end], out id)) break;
            if (end == start) return [vocab["[UNK]"]];
            pieces.Add(id);
            start = end;
        }
        return pieces;
    }
}
