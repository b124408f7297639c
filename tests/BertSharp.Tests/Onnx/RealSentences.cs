using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Onnx;

/// <summary>
/// Real sentences from sentence-polarity/dev.csv as id sequences, by whole-word lookup in the
/// built-in vocabulary (the data is lower-cased and space-tokenised; WordPiece is tested elsewhere).
/// </summary>
internal static class RealSentences
{
    private static readonly Lazy<Dictionary<string, int>> Vocab = new(() =>
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        using var reader = new StreamReader(BuiltInModels.OpenVocab("minilm-l6"));
        for (var (line, i) = (reader.ReadLine(), 0); line is not null; line = reader.ReadLine(), i++) vocab.TryAdd(line, i);
        return vocab;
    });

    /// <summary>[CLS] words… [SEP] for dev.csv's sentences skip..skip+count, each at most maxLength ids.</summary>
    public static int[][] Ids(int skip, int count, int maxLength = 512) => Ids("dev.csv", skip, count, maxLength, out _);

    /// <summary>Ids of a file's sentences and whether each is labelled positive.</summary>
    public static int[][] Ids(string file, int skip, int count, int maxLength, out bool[] positive)
    {
        var v = Vocab.Value;
        var lines = File.ReadLines(TestData.Path("sentence-polarity", file)).Skip(1 + skip).Take(count).ToArray();
        positive = [.. lines.Select(l => l.EndsWith(",positive", StringComparison.Ordinal))];
        return [.. lines.Select(line =>
        {
            var text = line.StartsWith('"') ? line[1..line.LastIndexOf("\",", StringComparison.Ordinal)] : line[..line.LastIndexOf(',')];
            var words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => v.GetValueOrDefault(w, v["[UNK]"]));
            return new[] { v["[CLS]"] }.Concat(words.Take(maxLength - 2)).Append(v["[SEP]"]).ToArray();
        })];
    }

    /// <summary>Pads to the longest sequence, or to <paramref name="length"/> when given (longer ones are cut).</summary>
    public static BertInput Pad(int[][] sequences, int? length = null)
    {
        int b = sequences.Length, t = length ?? sequences.Max(s => s.Length);
        var input = new BertInput(b, t, new int[b * t], new int[b * t], new int[b * t]);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < Math.Min(t, sequences[i].Length); j++)
            {
                input.InputIds[i * t + j] = sequences[i][j];
                input.AttentionMask[i * t + j] = 1;
            }
        return input;
    }

    /// <summary>Ones for the second half of each row's real tokens, so token types are exercised.</summary>
    public static BertInput WithPairTypes(BertInput input)
    {
        for (int b = 0; b < input.BatchSize; b++)
        {
            int t = input.SequenceLength, real = 0;
            for (int j = 0; j < t; j++) real += input.AttentionMask[b * t + j];
            for (int j = real / 2; j < real; j++) input.TokenTypeIds[b * t + j] = 1;
        }
        return input;
    }
}
