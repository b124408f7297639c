using System.Text.Json;
using BertSharp.IO;

namespace BertSharp.Tests.Text;

/// <summary>
/// Hugging Face's Rust tokenizer (through Tokenizers.DotNet) loaded from a bert-base-uncased
/// tokenizer.json written here from the embedded vocab: the independent truth for ids.
/// </summary>
internal sealed class HfOracle : IDisposable
{
    private readonly Tokenizers.DotNet.Tokenizer _tokenizer;

    public HfOracle(bool lowercase = true, bool? stripAccents = null)
    {
        var dir = Directory.CreateTempSubdirectory("bertsharp-oracle-");
        Path = System.IO.Path.Combine(dir.FullName, "tokenizer.json");
        File.WriteAllText(Path, TokenizerJson(ReadVocab(), lowercase, stripAccents));
        _tokenizer = new Tokenizers.DotNet.Tokenizer(Path);
    }

    /// <summary>The tokenizer.json the oracle was built from.</summary>
    public string Path { get; }

    /// <summary>
    /// Ids with [CLS] … [SEP], no truncation. Rust strings cannot hold lone surrogates, so they go in as
    /// U+FFFD — what any UTF-8 conversion of the .NET string gives, and what BertSharp documents.
    /// </summary>
    public int[] Encode(string text) => Array.ConvertAll(_tokenizer.Encode(ReplaceLoneSurrogates(text)), id => (int)id);

    private static string ReplaceLoneSurrogates(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) return text;
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) { i++; continue; }
            if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    public void Dispose() => _tokenizer.Dispose();

    public static List<string> ReadVocab()
    {
        using var reader = new StreamReader(BuiltInModels.OpenVocab("minilm-l6"));
        var tokens = new List<string>();
        string? line;
        while ((line = reader.ReadLine()) is not null) tokens.Add(line);
        return tokens;
    }

    /// <summary>bert-base-uncased's tokenizer.json layout, as transformers saves it.</summary>
    public static string TokenizerJson(IReadOnlyList<string> vocab, bool lowercase, bool? stripAccents)
    {
        var specials = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        var vocabMap = new Dictionary<string, int>();
        for (int i = 0; i < vocab.Count; i++) vocabMap[vocab[i]] = i;
        object Special(string id, int type) => new Dictionary<string, object> { ["SpecialToken"] = new { id, type_id = type } };
        object Sequence(string id, int type) => new Dictionary<string, object> { ["Sequence"] = new { id, type_id = type } };
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = specials.Select(s => new
            {
                id = vocabMap[s],
                content = s,
                single_word = false,
                lstrip = false,
                rstrip = false,
                normalized = false,
                special = true,
            }).ToArray(),
            ["normalizer"] = new Dictionary<string, object?>
            {
                ["type"] = "BertNormalizer",
                ["clean_text"] = true,
                ["handle_chinese_chars"] = true,
                ["strip_accents"] = stripAccents,
                ["lowercase"] = lowercase,
            },
            ["pre_tokenizer"] = new { type = "BertPreTokenizer" },
            ["post_processor"] = new
            {
                type = "TemplateProcessing",
                single = new[] { Special("[CLS]", 0), Sequence("A", 0), Special("[SEP]", 0) },
                pair = new[] { Special("[CLS]", 0), Sequence("A", 0), Special("[SEP]", 0), Sequence("B", 1), Special("[SEP]", 1) },
                special_tokens = new Dictionary<string, object>
                {
                    ["[CLS]"] = new { id = "[CLS]", ids = new[] { vocabMap["[CLS]"] }, tokens = new[] { "[CLS]" } },
                    ["[SEP]"] = new { id = "[SEP]", ids = new[] { vocabMap["[SEP]"] }, tokens = new[] { "[SEP]" } },
                },
            },
            ["decoder"] = new { type = "WordPiece", prefix = "##", cleanup = true },
            ["model"] = new Dictionary<string, object>
            {
                ["type"] = "WordPiece",
                ["unk_token"] = "[UNK]",
                ["continuing_subword_prefix"] = "##",
                ["max_input_chars_per_word"] = 100,
                ["vocab"] = vocabMap,
            },
        };
        return JsonSerializer.Serialize(json);
    }
}
