using System.Text.Json;
using BertSharp.IO;

namespace BertSharp.Text;

/// <summary>
/// Reads the parts of Hugging Face's <c>tokenizer.json</c> and <c>tokenizer_config.json</c> that a BERT
/// WordPiece tokenizer uses. Anything this tokenizer could not reproduce exactly is refused with the
/// file and field named, rather than silently ignored.
/// </summary>
internal static class TokenizerJson
{
    public static (Vocabulary Vocabulary, BertTokenizerOptions Options, List<string> SpecialTokens) Read(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}): {JsonErrors.Describe(e)}", e);
        }
        using (doc)
        {
            try
            {
                var root = doc.RootElement;
                var model = Required(root, "model", path);
                string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "WordPiece";
                if (type != "WordPiece") throw new NotSupportedException($"{path}: model.type is '{type}'; only WordPiece (BERT) tokenizers are supported");
                string prefix = model.TryGetProperty("continuing_subword_prefix", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : "##";
                if (prefix != Vocabulary.ContinuationPrefix) throw new NotSupportedException($"{path}: model.continuing_subword_prefix '{prefix}' is not '##'");
                string unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString()! : "[UNK]";
                if (unk != "[UNK]") throw new NotSupportedException($"{path}: model.unk_token '{unk}' is not [UNK]");
                int maxChars = model.TryGetProperty("max_input_chars_per_word", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : 100;

                var vocabElement = Required(model, "vocab", path);
                if (vocabElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: model.vocab is not an object of token → id");
                var byId = new Dictionary<int, string>();
                foreach (var entry in vocabElement.EnumerateObject())
                {
                    if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                        throw new InvalidDataException($"{path}: model.vocab[\"{entry.Name}\"] is not a non-negative integer id");
                    if (!byId.TryAdd(id, entry.Name))
                        throw new InvalidDataException($"{path}: model.vocab gives id {id} to both \"{byId[id]}\" and \"{entry.Name}\"");
                }
                var tokens = new string[byId.Count];
                foreach (var (id, token) in byId)
                {
                    if (id >= tokens.Length) throw new InvalidDataException($"{path}: model.vocab ids are not 0..{tokens.Length - 1} (found {id})");
                    tokens[id] = token;
                }

                var options = new BertTokenizerOptions { MaxInputCharsPerWord = maxChars };
                if (root.TryGetProperty("normalizer", out var n) && n.ValueKind == JsonValueKind.Object)
                {
                    string ntype = n.TryGetProperty("type", out var nt) ? nt.GetString() ?? "" : "";
                    if (ntype != "BertNormalizer") throw new NotSupportedException($"{path}: normalizer.type '{ntype}' is not supported; BertNormalizer is");
                    bool lower = Bool(n, "lowercase", true);
                    options = options with
                    {
                        CleanText = Bool(n, "clean_text", true),
                        TokenizeChineseChars = Bool(n, "handle_chinese_chars", true),
                        DoLowerCase = lower,
                        StripAccents = n.TryGetProperty("strip_accents", out var s) && s.ValueKind is JsonValueKind.True or JsonValueKind.False ? s.GetBoolean() : null,
                    };
                }
                else
                {
                    throw new NotSupportedException($"{path}: no normalizer; a BERT tokenizer.json has a BertNormalizer");
                }
                if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
                {
                    string ptype = pre.TryGetProperty("type", out var pt) ? pt.GetString() ?? "" : "";
                    if (ptype != "BertPreTokenizer") throw new NotSupportedException($"{path}: pre_tokenizer.type '{ptype}' is not supported; BertPreTokenizer is");
                }

                var specials = new List<string>();
                if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
                {
                    int i = 0;
                    foreach (var a in addedTokens.EnumerateArray())
                    {
                        string content = a.TryGetProperty("content", out var c) ? c.GetString() ?? "" : "";
                        if (Bool(a, "normalized", false) || Bool(a, "lstrip", false) || Bool(a, "rstrip", false) || Bool(a, "single_word", false))
                            throw new NotSupportedException($"{path}: added_tokens[{i}] '{content}' uses normalized/lstrip/rstrip/single_word, which BertSharp does not implement");
                        int id = a.TryGetProperty("id", out var idElement) ? idElement.GetInt32() : -1;
                        if ((uint)id >= (uint)tokens.Length || tokens[id] != content)
                            throw new InvalidDataException($"{path}: added_tokens[{i}] '{content}' has id {id}, which the vocabulary gives to another token");
                        specials.Add(content);
                        i++;
                    }
                }
                return (new Vocabulary(tokens, path), options, specials);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                // A field of the wrong JSON type, a number out of range or a string that is not valid text.
                throw new InvalidDataException($"{path}: a field has the wrong type or value: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Applies a model directory's <c>tokenizer_config.json</c> to <paramref name="options"/>: the keys
    /// present override, as transformers' BertTokenizerFast rebuilds its normalizer from them.
    /// </summary>
    public static BertTokenizerOptions ApplyConfig(string path, BertTokenizerOptions options)
    {
        if (!File.Exists(path)) return options;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object");
            if (root.TryGetProperty("do_lower_case", out var l) && l.ValueKind is JsonValueKind.True or JsonValueKind.False)
                options = options with { DoLowerCase = l.GetBoolean() };
            if (root.TryGetProperty("strip_accents", out var s) && s.ValueKind is JsonValueKind.True or JsonValueKind.False)
                options = options with { StripAccents = s.GetBoolean() };
            if (root.TryGetProperty("tokenize_chinese_chars", out var c) && c.ValueKind is JsonValueKind.True or JsonValueKind.False)
                options = options with { TokenizeChineseChars = c.GetBoolean() };
            // Some configs store a huge sentinel (int(1e30)) meaning "no limit": keep the current one then.
            if (root.TryGetProperty("model_max_length", out var m) && m.ValueKind == JsonValueKind.Number && m.TryGetInt32(out int max) && max > 0)
                options = options with { MaxLength = max };
            return options;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}): {JsonErrors.Describe(e)}", e);
        }
    }

    private static JsonElement Required(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) ? v : throw new InvalidDataException($"{path}: missing \"{name}\"");

    private static bool Bool(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
}
