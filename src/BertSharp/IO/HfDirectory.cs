using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BertSharp.Model;

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
        catch (JsonException e) { throw new InvalidDataException($"{configPath}: {JsonErrors.Describe(e)}", e); }
        if (config is null) throw new InvalidDataException($"{configPath}: empty config");
        config.Validate(configPath);
        return config;
    }

    public static (bool DoLowerCase, int? ModelMaxLength) ReadTokenizerConfig(string directory)
    {
        var path = Path.Combine(directory, TokenizerConfigFile);
        if (!File.Exists(path)) return (true, null);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: {JsonErrors.Describe(e)}", e); }
        bool lower = node?["do_lower_case"] is not JsonValue l || !l.TryGetValue<bool>(out var b) || b;
        // HF writes a huge sentinel (1e30) when the length is unknown.
        int? max = node?["model_max_length"] is JsonValue m && m.TryGetValue<double>(out var d) && d is > 0 and < int.MaxValue ? (int)d : null;
        return (lower, max);
    }

    /// <summary>
    /// Reads the weights under checkpoint names (<see cref="StateDict.WithCheckpointNames"/>: a bare encoder's keys
    /// under <c>bert.</c>, TF-era gamma/beta renamed); shapes are checked when a model is built from them.
    /// </summary>
    public static StateDict ReadWeights(string directory)
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

        return raw.WithCheckpointNames();
    }

    private static StateDict ReadSharded(string directory, string indexPath)
    {
        JsonNode? index;
        try { index = JsonNode.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: {JsonErrors.Describe(e)}", e); }
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
        // A bare encoder's state dict (BertModel.ToStateDict) is written under "bert." as a task model's is.
        weights = weights.WithCheckpointNames();
        Directory.CreateDirectory(directory);
        SafeTensors.Write(Path.Combine(directory, WeightsFile), weights, new Dictionary<string, string> { ["format"] = "pt" });

        var json = JsonSerializer.SerializeToNode(config with { Architectures = [TaskModels.ArchitectureOf(config, weights)] }, WriteOptions)!.AsObject();
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
}
