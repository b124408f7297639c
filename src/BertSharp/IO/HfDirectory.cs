using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.IO;

/// <summary>
/// A Hugging Face model directory: <c>config.json</c>, <c>vocab.txt</c>, <c>tokenizer_config.json</c>
/// and <c>model.safetensors</c>. Encoder weights are held without the "bert." prefix and written
/// with it, so the directory loads in <c>transformers</c> with or without a task head.
/// </summary>
internal static class HfDirectory
{
    public const string ConfigFile = "config.json", VocabFile = "vocab.txt", TokenizerConfigFile = "tokenizer_config.json",
        WeightsFile = "model.safetensors", WeightsIndexFile = "model.safetensors.index.json";

    private static readonly JsonSerializerOptions ReadOptions = new() { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static BertConfig ReadConfig(string configPath)
    {
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no such file", configPath);
        BertConfig? config;
        try { config = JsonSerializer.Deserialize<BertConfig>(File.ReadAllText(configPath), ReadOptions); }
        catch (JsonException e) { throw new InvalidDataException($"{configPath}: {e.Message}", e); }
        if (config is null) throw new InvalidDataException($"{configPath}: empty config");
        BertWeights.ValidateConfig(config, configPath);
        return config;
    }

    public static (bool DoLowerCase, int? ModelMaxLength) ReadTokenizerConfig(string directory)
    {
        var path = Path.Combine(directory, TokenizerConfigFile);
        if (!File.Exists(path)) return (true, null);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        bool lower = node?["do_lower_case"] is JsonValue l && l.TryGetValue<bool>(out var b) ? b : true;
        // HF writes a huge sentinel (1e30) when the length is unknown.
        int? max = node?["model_max_length"] is JsonValue m && m.TryGetValue<double>(out var d) && d is > 0 and < int.MaxValue ? (int)d : null;
        return (lower, max);
    }

    /// <summary>Reads the weights, strips "bert.", renames TF-era gamma/beta, and checks them against the config.</summary>
    public static StateDict ReadWeights(string directory, BertConfig config)
    {
        var single = Path.Combine(directory, WeightsFile);
        var index = Path.Combine(directory, WeightsIndexFile);
        StateDict raw;
        if (File.Exists(single)) raw = SafeTensors.Read(single);
        else if (File.Exists(index)) raw = ReadSharded(directory, index);
        else if (File.Exists(Path.Combine(directory, "pytorch_model.bin")))
            throw new NotSupportedException($"{directory}: has pytorch_model.bin but no {WeightsFile}; BertSharp reads safetensors only " +
                "(convert with transformers: model.save_pretrained(dir, safe_serialization=True))");
        else throw new FileNotFoundException($"{directory}: no {WeightsFile}", single);

        var weights = new StateDict { Source = raw.Source };
        foreach (var (name, t) in raw)
        {
            var n = name.StartsWith("bert.", StringComparison.Ordinal) ? name["bert.".Length..] : name;
            if (n.EndsWith(".gamma", StringComparison.Ordinal)) n = n[..^".gamma".Length] + ".weight";
            else if (n.EndsWith(".beta", StringComparison.Ordinal)) n = n[..^".beta".Length] + ".bias";
            weights[n] = t;
        }
        BertWeights.Validate(config, weights);
        BertWeights.ValidateLoaded(config, weights);
        return weights;
    }

    private static StateDict ReadSharded(string directory, string indexPath)
    {
        JsonNode? index;
        try { index = JsonNode.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: {e.Message}", e); }
        if (index?["weight_map"] is not JsonObject map) throw new InvalidDataException($"{indexPath}: no weight_map");
        var all = new StateDict { Source = indexPath };
        foreach (var file in map.Select(kv => kv.Value?.GetValue<string>()).Distinct())
        {
            if (file is null || file.Contains("..", StringComparison.Ordinal) || Path.IsPathRooted(file))
                throw new InvalidDataException($"{indexPath}: bad shard name '{file}'");
            foreach (var (k, v) in SafeTensors.Read(Path.Combine(directory, file))) all[k] = v;
        }
        return all;
    }

    /// <summary>Writes config, tokenizer files and weights, each atomically.</summary>
    public static void Save(string directory, BertConfig config, StateDict weights, Func<Stream> openVocab, bool doLowerCase, int modelMaxLength)
    {
        // Accept the encoder's names with or without "bert." (a task model's state dict has it).
        var bare = new StateDict { Source = weights.Source };
        foreach (var (name, t) in weights) bare[name.StartsWith("bert.", StringComparison.Ordinal) ? name["bert.".Length..] : name] = t;
        weights = bare;
        BertWeights.Validate(config, weights);
        Directory.CreateDirectory(directory);

        var named = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in weights)
        {
            bool encoder = name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal)
                || name.StartsWith("pooler.", StringComparison.Ordinal);
            named[encoder ? "bert." + name : name] = t;
        }
        SafeTensors.Write(Path.Combine(directory, WeightsFile), named, new Dictionary<string, string> { ["format"] = "pt" });

        var json = JsonSerializer.SerializeToNode(config with { Architectures = Architectures(config, weights) }, WriteOptions)!.AsObject();
        json["model_type"] = "bert";
        json["torch_dtype"] = "float32";
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(WriteOptions) + "\n");

        var tokenizer = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = doLowerCase,
            ["model_max_length"] = modelMaxLength,
            ["tokenize_chinese_chars"] = true,
            ["unk_token"] = "[UNK]",
            ["sep_token"] = "[SEP]",
            ["pad_token"] = "[PAD]",
            ["cls_token"] = "[CLS]",
            ["mask_token"] = "[MASK]",
        };
        AtomicFile.WriteAllText(Path.Combine(directory, TokenizerConfigFile), tokenizer.ToJsonString(WriteOptions) + "\n");

        // One token per line with LF endings, whatever the source used (the built-ins use CRLF).
        var vocab = new StringBuilder();
        using (var reader = new StreamReader(openVocab(), Encoding.UTF8))
            for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine()) vocab.Append(line).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(directory, VocabFile), vocab.ToString());
    }

    private static IReadOnlyList<string> Architectures(BertConfig config, StateDict weights)
    {
        if (config.Architectures is { Count: > 0 } a && !(a is ["BertModel"] && HasHead(weights))) return a;
        if (weights.ContainsKey("classifier.weight")) return ["BertForSequenceClassification"];
        if (weights.ContainsKey("qa_outputs.weight")) return ["BertForQuestionAnswering"];
        if (weights.Keys.Any(k => k.StartsWith("cls.predictions.", StringComparison.Ordinal))) return ["BertForMaskedLM"];
        return ["BertModel"];
    }

    private static bool HasHead(StateDict weights) =>
        weights.ContainsKey("classifier.weight") || weights.ContainsKey("qa_outputs.weight") || weights.ContainsKey("cls.predictions.bias");
}
